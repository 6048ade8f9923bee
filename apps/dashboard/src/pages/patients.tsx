import { useMemo, useState } from 'react';
import type { AlignedData } from 'uplot';
import { api } from '../api/client';
import type { Severity } from '../api/types';
import { Chart } from '../components/chart';
import { SeverityBadge, StatusBadge } from '../components/severity';
import { Time } from '../components/time';
import { allDevices, statusOf } from '../devices-data';
import { useLoad } from '../hooks';
import { href, navigate, type Route } from '../router';

interface Score {
  score: number;
  level: string;
  severity: Severity | null;
  partial: boolean;
  missing: string[];
  subscores: Record<string, number>;
  values: Record<string, number>;
}
interface News2 {
  device: string;
  current: (Score & { at: string; band: string; monitoring: string; response: string }) | null;
  history: (Score & { start: string })[];
}

/** Patients and their NEWS2 (computed by the server with the rules' own NEWS2), band and clinical response. */
export default function Patients({ route }: { route: Route }) {
  const patients = useLoad((signal) => allDevices(signal, 'patient'), [], 30_000);
  const selected = route.parts[1] ?? patients.data?.[0]?.id;
  return (
    <section aria-labelledby="patients-title">
      <h1 id="patients-title">Patients</h1>
      {patients.error && <p className="error" role="alert">{patients.error}</p>}
      <div className="split">
        <nav aria-label="Patients" className="list">
          <ul className="plain">
            {(patients.data ?? []).map((p) => (
              <li key={p.id}><a href={href('patients', p.id)} aria-current={p.id === selected ? 'page' : undefined}>{p.name ?? p.id}</a> <StatusBadge status={statusOf(p)} /></li>
            ))}
          </ul>
          {patients.data?.length === 0 && <p className="muted">No patients.</p>}
        </nav>
        {selected && <PatientNews2 id={selected} />}
      </div>
    </section>
  );
}

function PatientNews2({ id }: { id: string }) {
  const [hours, setHours] = useState(6);
  const n = useLoad((signal) => api<News2>(`/v1/patients/${encodeURIComponent(id)}/news2?from=${new Date(Date.now() - hours * 3_600_000).toISOString()}&step=${hours <= 6 ? 300 : 900}`, { signal }), [id, hours], 30_000);
  const score: AlignedData = useMemo(() => {
    const h = n.data?.history ?? [];
    return [h.map((b) => Date.parse(b.start) / 1000), h.map((b) => b.score)];
  }, [n.data]);
  const params = useMemo(() => {
    const h = n.data?.history ?? [];
    const names = [...new Set(h.flatMap((b) => Object.keys(b.values)))].sort();
    return names.map((p) => ({ p, data: [h.map((b) => Date.parse(b.start) / 1000), h.map((b) => b.values[p] ?? null)] as AlignedData }));
  }, [n.data]);
  const c = n.data?.current;
  return (
    <div className="detail">
      <h2>{id} <button type="button" className="link" onClick={() => navigate(href('devices', id))}>device page</button></h2>
      {n.error && <p className="error" role="alert">{n.error}</p>}
      {c ? (
        <div className={`panel news2 level-${c.level}`} data-testid="news2-current">
          <p className="big">NEWS2 {c.score}{c.partial && <span className="muted" title={`missing: ${c.missing.join(', ')}`}> (partial: at least)</span>}</p>
          <p>{c.severity ? <SeverityBadge severity={c.severity} /> : <span className="sev sev-none">no concern</span>} <strong>{c.band}</strong> · monitoring: {c.monitoring}</p>
          <p className="response"><strong>Clinical response:</strong> {c.response}</p>
          <p className="muted">From the latest readings, <Time iso={c.at} />.</p>
          <table className="compact">
            <caption>Parameters</caption>
            <thead><tr><th scope="col">Parameter</th><th scope="col" className="num">Value</th><th scope="col" className="num">Points</th></tr></thead>
            <tbody>
              {Object.entries(c.values).map(([p, v]) => <tr key={p}><td>{p.replace('_', ' ')}</td><td className="num">{v}</td><td className="num">{c.subscores[p] ?? '—'}</td></tr>)}
              {c.missing.map((p) => <tr key={p} className="muted"><td>{p.replace('_', ' ')}</td><td className="num">not measured</td><td className="num">—</td></tr>)}
            </tbody>
          </table>
        </div>
      ) : !n.loading && <p className="muted">No readings yet.</p>}
      <fieldset className="range">
        <legend>Over</legend>
        {[6, 24, 72].map((h) => <label key={h} className="pill"><input type="radio" name="hours" checked={hours === h} onChange={() => setHours(h)} /> {h} h</label>)}
      </fieldset>
      <Chart title="NEWS2 score (from bucket means)" series={['NEWS2']} data={score} height={160} xWindow={hours * 3600} points />
      <div className="chart-grid">
        {params.map(({ p, data }) => <Chart key={p} title={p} series={[p]} data={data} height={140} xWindow={hours * 3600} points />)}
      </div>
    </div>
  );
}
