import { useMemo } from 'react';
import type { AlignedData } from 'uplot';
import { api, qs } from '../api/client';
import type { Series } from '../api/types';
import { Chart } from '../components/chart';
import { StatusBadge } from '../components/severity';
import { Time } from '../components/time';
import { allDevices, statusOf } from '../devices-data';
import { useLoad } from '../hooks';
import { href, type Route } from '../router';

const TRENDS = ['temperature', 'vibration'];

/** Machines: vibration and temperature trends (min, mean, max per 5 min over 6 h). Predictions arrive with the ML issue. */
export default function Machines({ route }: { route: Route }) {
  const machines = useLoad((signal) => allDevices(signal, 'machine'), [], 30_000);
  const selected = route.parts[1] ?? machines.data?.[0]?.id;
  return (
    <section aria-labelledby="machines-title">
      <h1 id="machines-title">Machines</h1>
      {machines.error && <p className="error" role="alert">{machines.error}</p>}
      <div className="split">
        <nav aria-label="Machines" className="list">
          <ul className="plain">
            {(machines.data ?? []).map((m) => (
              <li key={m.id}><a href={href('machines', m.id)} aria-current={m.id === selected ? 'page' : undefined}>{m.name ?? m.id}</a> <StatusBadge status={statusOf(m)} /> <span className="muted"><Time iso={m.lastSeen} relative /></span></li>
            ))}
          </ul>
        </nav>
        {selected && <MachineTrends id={selected} />}
      </div>
    </section>
  );
}

function MachineTrends({ id }: { id: string }) {
  const trends = useLoad(
    (signal) => Promise.all(TRENDS.map((metric) => api<Series>(`/v1/devices/${encodeURIComponent(id)}/series${qs({ metric, from: new Date(Date.now() - 6 * 3_600_000).toISOString(), step: '5m' })}`, { signal }))),
    [id],
    60_000,
  );
  const charts = useMemo(() => (trends.data ?? []).map((s) => ({
    metric: s.metric,
    data: [s.buckets.map((b) => Date.parse(b.start) / 1000), s.buckets.map((b) => b.min), s.buckets.map((b) => b.avg), s.buckets.map((b) => b.max)] as AlignedData,
  })), [trends.data]);
  return (
    <div className="detail">
      <h2><a href={href('devices', id)}>{id}</a></h2>
      {trends.error && <p className="error" role="alert">{trends.error}</p>}
      <div className="chart-grid">
        {charts.map((c) => <Chart key={c.metric} title={`${c.metric}, last 6 h (5-min buckets)`} series={['min', 'mean', 'max']} data={c.data} height={200} xWindow={6 * 3600} points />)}
      </div>
      <p className="panel muted"><strong>Predictions: not yet.</strong> Failure predictions appear here once the ML issue (model scoring) lands.</p>
    </div>
  );
}
