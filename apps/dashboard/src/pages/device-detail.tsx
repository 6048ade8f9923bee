import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import type { AlignedData } from 'uplot';
import { api, qs } from '../api/client';
import { openEventStream } from '../api/sse';
import type { Device, DeviceMetrics, LatestValue, Series, TelemetryEvent } from '../api/types';
import { can, useUser } from '../auth';
import { Chart } from '../components/chart';
import { PredictionFacts, predictionOf } from '../components/prediction';
import { StatusBadge } from '../components/severity';
import { Time } from '../components/time';
import { statusOf } from '../devices-data';
import { messageOf, useLoad } from '../hooks';
import { href, type Route } from '../router';

/** Ranges of the picker: `live` is the last 15 minutes and the live stream on top. */
const RANGES: { id: string; label: string; ms: number }[] = [
  { id: 'live', label: 'Live (15 min)', ms: 15 * 60_000 },
  { id: '1h', label: '1 hour', ms: 3_600_000 },
  { id: '6h', label: '6 hours', ms: 6 * 3_600_000 },
  { id: '24h', label: '24 hours', ms: 86_400_000 },
  { id: '7d', label: '7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: '30 days', ms: 30 * 86_400_000 },
  { id: '90d', label: '90 days (lake)', ms: 90 * 86_400_000 },
];
const MAX_POINTS = 3000;

type Points = Record<string, { x: number[]; y: (number | null)[] }>;

export default function DeviceDetail({ route }: { route: Route }) {
  const id = route.parts[1]!;
  const user = useUser();
  const device = useLoad((signal) => api<Device>(`/v1/devices/${encodeURIComponent(id)}`, { signal }), [id]);
  const latest = useLoad(
    (signal) => (can(user, 'telemetry:latest') ? api<{ values: LatestValue[] }>(`/v1/devices/${encodeURIComponent(id)}/latest`, { signal }) : Promise.resolve({ values: [] })),
    [id],
  );
  // Every role may read series; the names come from the rollups (analysts may not read latest
  // values), plus any metric whose latest value is newer than its first rollup.
  const names = useLoad((signal) => api<DeviceMetrics>(`/v1/devices/${encodeURIComponent(id)}/metrics`, { signal }), [id]);
  const [range, setRange] = useState('live');
  const [custom, setCustom] = useState<{ from: string; to: string }>({ from: '', to: '' });
  const metrics = useMemo(
    () => [...new Set([...(names.data?.metrics ?? []), ...(latest.data?.values ?? []).map((v) => v.metric)])].sort(),
    [names.data, latest.data],
  );
  const span = useMemo(() => {
    if (range === 'custom' && custom.from && custom.to) return { from: new Date(custom.from).getTime(), to: new Date(custom.to).getTime() };
    const r = RANGES.find((x) => x.id === range) ?? RANGES[0]!;
    const to = Date.now();
    return { from: to - r.ms, to };
  }, [range, custom]);

  const points = useRef<Points>({});
  const [version, setVersion] = useState(0);
  const [historyError, setHistoryError] = useState<string>();
  const [liveState, setLiveState] = useState<'connecting' | 'live' | 'off'>('off');

  // History for the range, from the rollups (the API reads the lake for older ranges).
  useEffect(() => {
    if (metrics.length === 0) return;
    const controller = new AbortController();
    points.current = {};
    setHistoryError(undefined);
    const from = new Date(span.from).toISOString();
    const to = new Date(span.to).toISOString();
    void Promise.all(
      metrics.map(async (metric) => {
        const s = await api<Series>(`/v1/devices/${encodeURIComponent(id)}/series${qs({ metric, from, to })}`, { signal: controller.signal });
        const x: number[] = [];
        const y: (number | null)[] = [];
        for (const b of s.buckets) {
          x.push(Date.parse(b.start) / 1000);
          y.push(b.avg);
        }
        // Live readings that came in while the history loaded stay, after it.
        const live = points.current[metric];
        const last = x.at(-1) ?? 0;
        if (live) for (let i = 0; i < live.x.length; i++) if (live.x[i]! > last) { x.push(live.x[i]!); y.push(live.y[i]!); }
        points.current[metric] = { x, y };
      }),
    ).then(() => setVersion((v) => v + 1), (err: unknown) => { if (!controller.signal.aborted) setHistoryError(messageOf(err)); });
    return () => controller.abort();
  }, [id, metrics.join(','), span.from, span.to]);

  // Live readings (SSE) in live mode: appended to each metric's points, one redraw per frame at most.
  useEffect(() => {
    if (range !== 'live' || !can(user, 'telemetry:live')) return;
    let frame = 0;
    setLiveState('connecting');
    const close = openEventStream(`/v1/live${qs({ devices: id })}`, (e) => {
      if (e.event !== 'reading') return;
      const event = JSON.parse(e.data) as TelemetryEvent;
      const x = Date.parse(event.ts) / 1000;
      for (const [metric, value] of Object.entries(event.metrics)) {
        const p = (points.current[metric] ??= { x: [], y: [] });
        if (p.x.length > 0 && x < p.x.at(-1)!) continue; // late: the history has it
        p.x.push(x);
        p.y.push(value);
        if (p.x.length > MAX_POINTS) { p.x.splice(0, p.x.length - MAX_POINTS); p.y.splice(0, p.y.length - MAX_POINTS); }
      }
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; setVersion((v) => v + 1); });
    }, { onOpen: () => setLiveState('live') });
    return () => {
      close();
      cancelAnimationFrame(frame);
      setLiveState('off');
    };
  }, [id, range, user]);

  const prediction = useMemo(() => predictionOf(id, latest.data?.values ?? []), [id, latest.data]);
  const charts = useMemo(() => {
    const names = [...new Set([...metrics, ...Object.keys(points.current)])].sort();
    return names.map((metric) => {
      const p = points.current[metric] ?? { x: [], y: [] };
      return { metric, data: [p.x.slice(), p.y.slice()] as AlignedData };
    });
  }, [version, metrics]);

  if (device.error) return <section><h1>Device {id}</h1><p className="error" role="alert">{device.error}</p><p><a href={href('devices')}>All devices</a></p></section>;
  const d = device.data;
  return (
    <section aria-labelledby="device-title">
      <p><a href={href('devices')}>← Devices</a></p>
      <h1 id="device-title">{d?.name ? `${d.name} (${id})` : id}</h1>
      {d && (
        <dl className="facts">
          <dt>Kind</dt><dd>{d.kind}</dd>
          <dt>Status</dt><dd><StatusBadge status={statusOf(d)} /></dd>
          <dt>Last seen</dt><dd><Time iso={d.lastSeen} /></dd>
          <dt>Registered</dt><dd><Time iso={d.created} /></dd>
          <dt>Tags</dt><dd>{Object.entries(d.tags).map(([k, v]) => `${k}=${v}`).join(', ') || '—'}</dd>
        </dl>
      )}
      {latest.data && latest.data.values.length > 0 && (
        <table className="compact">
          <caption>Latest values</caption>
          <thead><tr><th scope="col">Metric</th><th scope="col" className="num">Value</th><th scope="col">At</th></tr></thead>
          <tbody>{latest.data.values.map((v) => <tr key={v.metric}><td>{v.metric}</td><td className="num">{v.value}</td><td><Time iso={v.ts} /></td></tr>)}</tbody>
        </table>
      )}
      {prediction && <PredictionFacts device={id} latest={prediction} />}
      <fieldset className="range">
        <legend>Time range</legend>
        {RANGES.map((r) => (
          <label key={r.id} className="pill"><input type="radio" name="range" value={r.id} checked={range === r.id} onChange={() => setRange(r.id)} /> {r.label}</label>
        ))}
        <label className="pill"><input type="radio" name="range" value="custom" checked={range === 'custom'} onChange={() => setRange('custom')} /> Custom</label>
        {range === 'custom' && (
          <>
            <label>From <input type="datetime-local" value={custom.from} onChange={(e) => setCustom({ ...custom, from: e.target.value })} /></label>
            <label>To <input type="datetime-local" value={custom.to} onChange={(e) => setCustom({ ...custom, to: e.target.value })} /></label>
          </>
        )}
        <span className="muted" role="status" data-testid="live-state">{range === 'live' ? (liveState === 'live' ? '● receiving live readings' : '○ connecting…') : 'history'}</span>
      </fieldset>
      {historyError && <p className="error" role="alert">{historyError}</p>}
      {names.error && <p className="error" role="alert">{names.error}</p>}
      {metrics.length === 0 && !latest.loading && !names.loading && <p className="muted">No readings yet.</p>}
      <div className="chart-grid">
        {charts.map((c) => <Chart key={c.metric} title={c.metric} series={[c.metric]} data={c.data} height={180} points={range === 'live'} {...(range === 'live' && { xWindow: 15 * 60 })} />)}
      </div>
      {d && can(user, 'devices:write') && <EditDevice device={d} onSaved={device.reload} />}
    </section>
  );
}

function EditDevice({ device, onSaved }: { device: Device; onSaved: () => void }) {
  const [name, setName] = useState(device.name ?? '');
  const [metadata, setMetadata] = useState(JSON.stringify(device.metadata, null, 2));
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(metadata);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('metadata must be a JSON object');
    } catch (err) {
      setMessage({ ok: false, text: `Metadata: ${messageOf(err)}` });
      return;
    }
    try {
      await api(`/v1/devices/${encodeURIComponent(device.id)}`, { method: 'PATCH', body: { name: name.trim() === '' ? null : name.trim(), metadata: parsed } });
      setMessage({ ok: true, text: 'Saved.' });
      onSaved();
    } catch (err) {
      setMessage({ ok: false, text: messageOf(err) });
    }
  };
  return (
    <form className="panel" onSubmit={(e) => void submit(e)} aria-labelledby="edit-title">
      <h2 id="edit-title">Edit device</h2>
      <label>Name <input value={name} onChange={(e) => setName(e.target.value)} maxLength={256} /></label>
      <label>Metadata (JSON object)
        <textarea rows={6} value={metadata} onChange={(e) => setMetadata(e.target.value)} spellCheck={false} aria-invalid={message && !message.ok ? true : undefined} />
      </label>
      {message && <p className={message.ok ? 'ok' : 'error'} role={message.ok ? 'status' : 'alert'}>{message.text}</p>}
      <button type="submit">Save</button>
    </form>
  );
}
