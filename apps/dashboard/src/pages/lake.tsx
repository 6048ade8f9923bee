import { api } from '../api/client';
import type { QueryAnswer } from '../api/types';
import { useUser } from '../auth';
import { useLoad } from '../hooks';

const query = (sql: string, signal: AbortSignal) => api<QueryAnswer>('/v1/query', { method: 'POST', body: { sql, maxRows: 500 }, signal });

/** Gold KPIs and quarantine counts, through the lake's SQL route (`POST /v1/query`). */
export default function Lake() {
  const user = useUser();
  const fleet = useLoad((signal) => query('SELECT day, kind, devices, metrics, samples, mean_completeness, late, outliers FROM gold_fleet_daily ORDER BY day DESC, kind LIMIT 90', signal), [], 60_000);
  // Quarantine is bronze-level data: admins only (the server refuses it to analysts).
  const quarantine = useLoad((signal) => (user.role === 'admin' ? query('SELECT reason, count(*) AS rows FROM quarantine GROUP BY reason ORDER BY rows DESC LIMIT 50', signal) : Promise.resolve(undefined)), [user.role], 60_000);
  return (
    <section aria-labelledby="lake-title">
      <h1 id="lake-title">Lake</h1>
      <p className="muted">The lake jobs run every 5 minutes (raw → bronze → silver → gold); these tables are as of the last run.</p>
      <h2>Fleet per day (gold)</h2>
      {fleet.error && <p className="error" role="alert">{fleet.error}</p>}
      {fleet.loading && !fleet.data && <p role="status">Loading…</p>}
      <AnswerTable answer={fleet.data} caption="gold_fleet_daily" percent={['mean_completeness']} />
      {user.role === 'admin' && (
        <>
          <h2>Quarantine (bronze)</h2>
          {quarantine.error && <p className="error" role="alert">{quarantine.error}</p>}
          {quarantine.loading && !quarantine.data && <p role="status">Loading…</p>}
          <AnswerTable answer={quarantine.data} caption="rows in quarantine by reason" percent={[]} />
        </>
      )}
    </section>
  );
}

function AnswerTable({ answer, caption, percent }: { answer: QueryAnswer | undefined; caption: string; percent: string[] }) {
  if (!answer) return null;
  if (answer.rows.length === 0) return <p className="muted" data-testid={`${caption}-empty`}>Nothing yet ({caption}).</p>;
  const cell = (name: string, v: unknown): string => {
    if (typeof v === 'number' && percent.includes(name)) return `${(v * 100).toFixed(1)} %`;
    if (typeof v === 'number') return v.toLocaleString();
    return String(v ?? '—');
  };
  return (
    <table data-testid={caption}>
      <caption className="sr-only">{caption}</caption>
      <thead><tr>{answer.columns.map((c) => <th key={c.name} scope="col">{c.name.replace(/_/g, ' ')}</th>)}</tr></thead>
      <tbody>
        {answer.rows.map((r, i) => <tr key={i}>{answer.columns.map((c) => <td key={c.name} className={typeof r[c.name] === 'number' ? 'num' : undefined}>{cell(c.name, r[c.name])}</td>)}</tr>)}
      </tbody>
    </table>
  );
}
