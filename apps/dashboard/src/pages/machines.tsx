import { useMemo } from 'react';
import type { AlignedData } from 'uplot';
import { api, qs } from '../api/client';
import type { LatestPrediction, Series } from '../api/types';
import { can, useUser } from '../auth';
import { Chart } from '../components/chart';
import { PredictionFacts, PROBABILITY_METRIC, ProbabilityText } from '../components/prediction';
import { StatusBadge } from '../components/severity';
import { Time } from '../components/time';
import { allDevices, statusOf } from '../devices-data';
import { useLoad } from '../hooks';
import { href, type Route } from '../router';

const TRENDS = ['temperature', 'vibration'];

/**
 * Machines: each one's latest failure probability (the scoring role's predictions, for roles that
 * read latest values), and for the one selected its vibration, temperature and failure
 * probability trends (min, mean, max per 5 min over 6 h) and its latest prediction.
 */
export default function Machines({ route }: { route: Route }) {
  const user = useUser();
  const latest = can(user, 'telemetry:latest');
  const machines = useLoad((signal) => allDevices(signal, 'machine'), [], 30_000);
  const predictions = useLoad(
    (signal) => (latest ? api<{ predictions: LatestPrediction[] }>(`/v1/predictions/latest${qs({ kind: 'machine' })}`, { signal }) : Promise.resolve({ predictions: [] })),
    [latest],
    30_000,
  );
  const byDevice = useMemo(() => new Map((predictions.data?.predictions ?? []).map((p) => [p.device, p])), [predictions.data]);
  const selected = route.parts[1] ?? machines.data?.[0]?.id;
  return (
    <section aria-labelledby="machines-title">
      <h1 id="machines-title">Machines</h1>
      {machines.error && <p className="error" role="alert">{machines.error}</p>}
      {predictions.error && <p className="error" role="alert">Predictions: {predictions.error}</p>}
      <div className="split">
        <nav aria-label="Machines" className="list">
          <ul className="plain">
            {(machines.data ?? []).map((m) => (
              <li key={m.id}>
                <a href={href('machines', m.id)} aria-current={m.id === selected ? 'page' : undefined}>{m.name ?? m.id}</a> <StatusBadge status={statusOf(m)} /> <span className="muted"><Time iso={m.lastSeen} relative /></span>
                {latest && predictions.data && <><br /><ProbabilityText prediction={byDevice.get(m.id)} testId={`prediction-${m.id}`} /></>}
              </li>
            ))}
          </ul>
        </nav>
        {selected && <MachineTrends id={selected} prediction={byDevice.get(selected)} showLatest={latest} />}
      </div>
    </section>
  );
}

function MachineTrends({ id, prediction, showLatest }: { id: string; prediction: LatestPrediction | undefined; showLatest: boolean }) {
  const trends = useLoad(
    (signal) => Promise.all([...TRENDS, PROBABILITY_METRIC].map((metric) => api<Series>(`/v1/devices/${encodeURIComponent(id)}/series${qs({ metric, from: new Date(Date.now() - 6 * 3_600_000).toISOString(), step: '5m' })}`, { signal }))),
    [id],
    60_000,
  );
  // The probability chart only for machines a model scores (it has samples in the range).
  const charts = useMemo(() => (trends.data ?? [])
    .filter((s) => s.metric !== PROBABILITY_METRIC || s.buckets.some((b) => b.count > 0))
    .map((s) => ({
      metric: s.metric,
      data: [s.buckets.map((b) => Date.parse(b.start) / 1000), s.buckets.map((b) => b.min), s.buckets.map((b) => b.avg), s.buckets.map((b) => b.max)] as AlignedData,
    })), [trends.data]);
  return (
    <div className="detail">
      <h2><a href={href('devices', id)}>{id}</a></h2>
      {trends.error && <p className="error" role="alert">{trends.error}</p>}
      {showLatest && (prediction
        ? <PredictionFacts device={id} latest={prediction} level={3} />
        : <p className="panel muted">No model scores this machine yet: its failure predictions appear here once the scoring role publishes them.</p>)}
      <div className="chart-grid">
        {charts.map((c) => <Chart key={c.metric} title={`${c.metric}, last 6 h (5-min buckets)`} series={['min', 'mean', 'max']} data={c.data} height={200} xWindow={6 * 3600} points />)}
      </div>
    </div>
  );
}
