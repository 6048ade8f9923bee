import { useEffect, useState, type FormEvent } from 'react';
import { api, qs } from '../api/client';
import { openEventStream } from '../api/sse';
import type { Alert, Severity } from '../api/types';
import { can, useUser } from '../auth';
import { SEVERITIES, SeverityBadge, StatusBadge } from '../components/severity';
import { Time } from '../components/time';
import { messageOf, useLoad } from '../hooks';
import { href, navigate, type Route } from '../router';

/** Alerts, newest first, filtered; live (the list reloads on every alert event); one alert's timeline and actions beside it. */
export default function Alerts({ route }: { route: Route }) {
  const [status, setStatus] = useState('open,acknowledged');
  const [severity, setSeverity] = useState<'' | Severity>('');
  const [device, setDevice] = useState('');
  const list = useLoad(
    (signal) => api<{ alerts: Alert[] }>(`/v1/alerts${qs({ status, severity, device: device.trim(), limit: 200 })}`, { signal }),
    [status, severity, device],
    30_000,
  );
  const reload = list.reload;
  useEffect(() => openEventStream('/v1/alerts/stream', (e) => { if (e.event === 'alert') reload(); }), [reload]);
  const selected = route.parts[1];

  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      <div className="filters" role="search">
        <label>Status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="open,acknowledged">open and acknowledged</option>
            <option value="open">open</option>
            <option value="acknowledged">acknowledged</option>
            <option value="resolved">resolved</option>
            <option value="open,acknowledged,resolved">all</option>
          </select>
        </label>
        <label>At least
          <select value={severity} onChange={(e) => setSeverity(e.target.value as '' | Severity)}>
            <option value="">any severity</option>
            {SEVERITIES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>Device <input value={device} onChange={(e) => setDevice(e.target.value)} placeholder="device id" /></label>
      </div>
      {list.error && <p className="error" role="alert">{list.error}</p>}
      <div className="split">
        <table>
          <thead><tr><th scope="col">Severity</th><th scope="col">Alert</th><th scope="col">Device</th><th scope="col">Status</th><th scope="col">Opened</th></tr></thead>
          <tbody>
            {(list.data?.alerts ?? []).map((a) => (
              <tr key={a.id} aria-selected={a.id === selected} className={a.id === selected ? 'selected' : undefined}>
                <td><SeverityBadge severity={a.severity} /></td>
                <td><a href={href('alerts', a.id)}>{a.title}</a>{a.count > 1 && <span className="muted"> ×{a.count}</span>}</td>
                <td><a href={href('devices', a.device)}>{a.device}</a></td>
                <td><StatusBadge status={a.status} /></td>
                <td><Time iso={a.openedAt} /></td>
              </tr>
            ))}
            {list.data && list.data.alerts.length === 0 && <tr><td colSpan={5} className="muted">No alerts match.</td></tr>}
          </tbody>
        </table>
        {selected && <AlertPanel id={selected} onChanged={reload} />}
      </div>
    </section>
  );
}

function AlertPanel({ id, onChanged }: { id: string; onChanged: () => void }) {
  const user = useUser();
  const alert = useLoad((signal) => api<Alert>(`/v1/alerts/${encodeURIComponent(id)}`, { signal }), [id]);
  const [note, setNote] = useState('');
  const [error, setError] = useState<string>();
  const act = async (e: FormEvent, action: 'acknowledge' | 'resolve'): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    try {
      await api(`/v1/alerts/${encodeURIComponent(id)}/${action}`, { method: 'POST', body: note.trim() ? { note: note.trim() } : {} });
      setNote('');
      alert.reload();
      onChanged();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const a = alert.data;
  if (!a) return <aside className="panel">{alert.error ? <p className="error" role="alert">{alert.error}</p> : <p role="status">Loading…</p>}</aside>;
  const steps: { at: string; what: string; note?: string | null }[] = [
    { at: a.openedAt, what: `Opened by rule ${a.ruleId} (v${a.ruleVersion})${a.metric ? `: ${a.metric} = ${a.value}` : ''}` },
    ...(a.count > 1 ? [{ at: a.lastAt, what: `Fired again (${a.count} times in all)` }] : []),
    ...(a.acknowledgedAt ? [{ at: a.acknowledgedAt, what: `Acknowledged by ${a.acknowledgedBy ?? '?'}`, note: a.ackNote }] : []),
    ...(a.resolvedAt ? [{ at: a.resolvedAt, what: `Resolved by ${a.resolvedBy ?? '?'}`, note: a.resolveNote }] : []),
  ].sort((x, y) => Date.parse(x.at) - Date.parse(y.at));
  return (
    <aside className="panel" aria-labelledby="alert-title">
      <h2 id="alert-title"><SeverityBadge severity={a.severity} /> {a.title}</h2>
      <p><StatusBadge status={a.status} /> · <a href={href('devices', a.device)}>{a.device}</a> ({a.deviceKind})</p>
      <h3>Timeline</h3>
      <ol className="timeline">
        {steps.map((s, i) => (
          <li key={i}><Time iso={s.at} />: {s.what}{s.note && <blockquote>{s.note}</blockquote>}</li>
        ))}
      </ol>
      {Object.keys(a.details).length > 0 && (
        <details><summary>Details</summary><pre>{JSON.stringify(a.details, null, 2)}</pre></details>
      )}
      {can(user, 'alerts:manage') && a.status !== 'resolved' && (
        <form onSubmit={(e) => void act(e, 'acknowledge')}>
          <label>Note <textarea rows={3} value={note} maxLength={2000} onChange={(e) => setNote(e.target.value)} /></label>
          {error && <p className="error" role="alert">{error}</p>}
          <div className="buttons">
            {a.status === 'open' && <button type="submit">Acknowledge</button>}
            <button type="button" onClick={(e) => void act(e, 'resolve')}>Resolve</button>
          </div>
        </form>
      )}
      <p><button type="button" className="link" onClick={() => navigate(href('alerts'))}>Close</button></p>
    </aside>
  );
}
