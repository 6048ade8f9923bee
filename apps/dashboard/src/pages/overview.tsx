import { useMemo } from 'react';
import type { AlignedData } from 'uplot';
import { api } from '../api/client';
import type { Overview as OverviewData } from '../api/types';
import { Chart } from '../components/chart';
import { SEVERITIES, SeverityBadge } from '../components/severity';
import { bytes, Time } from '../components/time';
import { useLoad } from '../hooks';
import { href } from '../router';

export default function Overview() {
  const { data, error } = useLoad((signal) => api<OverviewData>('/v1/overview', { signal }), [], 5000);
  const rate: AlignedData = useMemo(() => {
    const points = data?.events.lastHour ?? [];
    return [points.map((p) => Date.parse(p.at) / 1000), points.map((p) => p.perSecond)];
  }, [data]);
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      {error && <p className="error" role="alert">{error}</p>}
      {!data ? <p role="status">Loading…</p> : (
        <>
          <p className="muted">Updated <Time iso={data.at} /> · every 5 s</p>
          <div className="cards">
            <div className="card" data-testid="events-per-second">
              <h2>Events/s now</h2>
              <p className="big">{data.events.perSecond.toFixed(1)}</p>
              <p className="muted">{data.events.total.toLocaleString()} events in the stream</p>
            </div>
            <div className="card">
              <h2>Devices</h2>
              <p className="big"><span aria-hidden="true">●</span> {data.devices.online} online</p>
              <p className="muted"><span aria-hidden="true">○</span> {data.devices.offline} offline (no data for {Math.round(data.devices.onlineWithinSeconds / 60)} min) · {Object.entries(data.devices.byKind).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}</p>
            </div>
            {data.alerts && (
              <div className="card">
                <h2><a href={href('alerts')}>Open alerts</a></h2>
                <ul className="plain">
                  {SEVERITIES.map((s) => (
                    <li key={s}><SeverityBadge severity={s} /> <strong>{data.alerts![s] ?? 0}</strong></li>
                  ))}
                </ul>
              </div>
            )}
            <div className="card">
              <h2>Storage used</h2>
              <p className="big">{bytes(data.storage.streamBytes + (data.storage.databaseBytes ?? 0) + (data.storage.lakeBytes ?? 0))}</p>
              <p className="muted">
                stream {bytes(data.storage.streamBytes)} · database {bytes(data.storage.databaseBytes)} · lake {bytes(data.storage.lakeBytes)}
                {data.storage.lakeMeasuredAt && <> (measured <Time iso={data.storage.lakeMeasuredAt} />)</>}
              </p>
            </div>
          </div>
          <Chart title="Events per second, last hour" series={['events/s']} data={rate} height={180} xWindow={3600} points />
          <h2>Consumer lag</h2>
          <table>
            <thead><tr><th scope="col">Topic</th><th scope="col">Group</th><th scope="col" className="num">Records behind</th></tr></thead>
            <tbody>
              {data.lag.map((l) => (
                <tr key={`${l.topic}/${l.group}`}><td>{l.topic}</td><td>{l.group}</td><td className="num">{l.records.toLocaleString()}</td></tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
