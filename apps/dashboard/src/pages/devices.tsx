import { useMemo, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { DeviceKind } from '../api/types';
import { StatusBadge } from '../components/severity';
import { Time } from '../components/time';
import { allDevices, statusOf } from '../devices-data';
import { useLoad } from '../hooks';
import { href, navigate } from '../router';

const ROW = 36;

/** Every device the caller may see, filtered in the browser; only the rows in view are in the DOM. */
export default function Devices() {
  const { data, error, loading } = useLoad((signal) => allDevices(signal), [], 30_000);
  const [text, setText] = useState('');
  const [kind, setKind] = useState<'' | DeviceKind>('');
  const [status, setStatus] = useState('');
  const rows = useMemo(() => {
    const t = text.trim().toLowerCase();
    const now = Date.now();
    return (data ?? []).filter((d) => (!kind || d.kind === kind) && (!status || statusOf(d, now) === status) && (!t || d.id.toLowerCase().includes(t) || (d.name ?? '').toLowerCase().includes(t)));
  }, [data, text, kind, status]);
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({ count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 12 });
  const kinds = useMemo(() => [...new Set((data ?? []).map((d) => d.kind))].sort(), [data]);

  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">Devices</h1>
      <div className="filters" role="search">
        <label>Search <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="id or name" /></label>
        <label>Kind
          <select value={kind} onChange={(e) => setKind(e.target.value as '' | DeviceKind)}>
            <option value="">all</option>
            {kinds.map((k) => <option key={k} value={k}>{k}</option>)}
          </select>
        </label>
        <label>Status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">all</option><option value="online">online</option><option value="offline">offline</option><option value="never">never seen</option>
          </select>
        </label>
        <span className="muted" role="status">{loading && !data ? 'Loading…' : `${rows.length.toLocaleString()} of ${(data?.length ?? 0).toLocaleString()} devices`}</span>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="vtable" role="table" aria-label="Devices" aria-rowcount={rows.length + 1}>
        <div role="rowgroup">
          <div className="vrow vhead" role="row">
            <span role="columnheader">Device</span><span role="columnheader">Kind</span><span role="columnheader">Status</span><span role="columnheader">Last seen</span>
          </div>
        </div>
        <div ref={scroller} className="vbody" role="rowgroup" tabIndex={0} aria-label="Device rows (scroll)">
          <div style={{ height: virtual.getTotalSize(), position: 'relative' }}>
            {virtual.getVirtualItems().map((item) => {
              const d = rows[item.index]!;
              return (
                <div key={d.id} className="vrow" role="row" aria-rowindex={item.index + 2} style={{ position: 'absolute', top: 0, transform: `translateY(${item.start}px)`, height: ROW, width: '100%' }}
                  onDoubleClick={() => navigate(href('devices', d.id))}>
                  <span role="cell"><a href={href('devices', d.id)}>{d.name ? `${d.name} (${d.id})` : d.id}</a></span>
                  <span role="cell">{d.kind}</span>
                  <span role="cell"><StatusBadge status={statusOf(d)} /></span>
                  <span role="cell"><Time iso={d.lastSeen} relative /></span>
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </section>
  );
}
