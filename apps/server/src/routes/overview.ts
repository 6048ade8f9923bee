import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { allows, visibleKinds } from '@strata/auth';
import type { Db } from '@strata/db';
import type { ObjectStore } from '@strata/storage';
import type { Stream } from '@strata/stream';
import { callerOf } from './devices.js';

export interface OverviewRoutesOptions {
  db: Db;
  stream: Stream;
  /** The topic whose appends are "events" (telemetry). */
  topic: string;
  /** Topics whose consumer groups' lag is reported. */
  lagTopics: string[];
  /** How often the event rate is sampled (default 5 s); an hour of samples is kept. */
  sampleMs?: number;
  /** A device seen within this long is online (default 5 min). */
  onlineWithinMs?: number;
  /** The lake: its size is summed by listing it in the background (never on a request). */
  store: ObjectStore;
  /** How old the lake's size may get before a request has it measured again (default 5 min: listing a large S3 lake is many requests). */
  lakeSizeMs?: number;
}

const Rate = Type.Object({ at: Type.String({ format: 'date-time' }), perSecond: Type.Number() });
const OverviewReply = Type.Object({
  at: Type.String({ format: 'date-time' }),
  events: Type.Object({
    perSecond: Type.Number({ description: 'Over the last sample period.' }),
    lastHour: Type.Array(Rate, { description: 'The last hour, oldest first: one point a minute before this process started (from the stream\'s append times, as far as retention keeps them), then one per sample period.' }),
    total: Type.Number({ description: 'Events held in the telemetry topic (end offsets summed).' }),
  }),
  devices: Type.Object({ online: Type.Integer(), offline: Type.Integer(), onlineWithinSeconds: Type.Integer(), byKind: Type.Record(Type.String(), Type.Integer()) }),
  lag: Type.Array(Type.Object({ topic: Type.String(), group: Type.String(), records: Type.Integer() })),
  alerts: Type.Union([Type.Record(Type.String(), Type.Integer()), Type.Null()], { description: 'Open and acknowledged alerts by severity; null when the caller may not read alerts.' }),
  storage: Type.Object({
    streamBytes: Type.Number(),
    databaseBytes: Type.Union([Type.Number(), Type.Null()]),
    lakeBytes: Type.Union([Type.Number(), Type.Null()], { description: 'Every object of the lake, as of lakeMeasuredAt; null until first measured.' }),
    lakeMeasuredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  }),
});

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/**
 * Events appended to the topic in each minute of the hour before `end`, as one rate point per
 * minute at its end: per partition, the offsets of the first records appended at or after each
 * minute's start and end, differenced. Records retention deleted are not counted (a minute before
 * the first retained record counts none).
 */
async function appendedPerMinute(stream: Stream, topic: string, end: number): Promise<{ at: number; perSecond: number }[]> {
  const bounds = Array.from({ length: HOUR_MS / MINUTE_MS + 1 }, (_, i) => end - HOUR_MS + i * MINUTE_MS);
  const counts = new Array<number>(bounds.length - 1).fill(0);
  const { partitions } = await stream.describe(topic);
  await Promise.all(
    partitions.map(async ({ partition }) => {
      const offsets: number[] = [];
      for (const t of bounds) offsets.push(await stream.offsetForTime(topic, partition, t));
      for (let i = 0; i < counts.length; i++) counts[i] = counts[i]! + Math.max(0, offsets[i + 1]! - offsets[i]!);
    }),
  );
  return counts.map((n, i) => ({ at: bounds[i + 1]!, perSecond: n / (MINUTE_MS / 1000) }));
}

/**
 * `GET /v1/overview`: the dashboard's first page in one call, from the sources the Prometheus
 * metrics read (stream offsets and lag, the operational store), in JSON for a browser. Device and
 * alert counts are of the kinds the caller may see. The event rate is sampled here from the
 * telemetry topic's end offsets, so any process with the api role has it, whichever process ingests;
 * the hour before the process started is read once from the topic's append times.
 */
export async function overviewRoutes(app: FastifyInstance, opts: OverviewRoutesOptions): Promise<void> {
  const sampleMs = opts.sampleMs ?? 5000;
  const onlineWithinMs = opts.onlineWithinMs ?? 5 * 60_000;
  const keep = Math.ceil(HOUR_MS / sampleMs);
  const samples: { at: number; total: number }[] = [];
  const endTotal = async (): Promise<number> => (await opts.stream.describe(opts.topic)).partitions.reduce((sum, p) => sum + p.endOffset, 0);
  const sample = async (): Promise<void> => {
    samples.push({ at: Date.now(), total: await endTotal() });
    if (samples.length > keep + 1) samples.shift();
  };
  await sample().catch(() => undefined);
  const timer = setInterval(() => void sample().catch(() => undefined), sampleMs);
  timer.unref();
  // The hour before this process started, a point a minute, from the stream's append times, so a
  // restarted server still shows the last hour; read once, in the background, awaited by the
  // first overview read (and by close, so the stream is not closed under it).
  const startedAt = samples[0]?.at ?? Date.now();
  let seeded: { at: number; perSecond: number }[] = [];
  const seeding: Promise<void> = appendedPerMinute(opts.stream, opts.topic, startedAt).then(
    (points) => void (seeded = points),
    (err: unknown) => app.log.warn({ err, topic: opts.topic }, 'could not read the last hour from the stream; the overview counts from process start'),
  );

  // The lake is listed only when someone looks at the overview, at most every lakeSizeMs, in the
  // background: no listing at start-up, none on the request path.
  const lakeSizeMs = opts.lakeSizeMs ?? 5 * 60_000;
  let lake: { bytes: number; at: string } | null = null;
  let measuring: Promise<void> | undefined;
  const measureLake = (): void => {
    if (measuring || (lake && Date.now() - Date.parse(lake.at) < lakeSizeMs)) return;
    measuring = (async () => {
      let bytes = 0;
      for await (const o of opts.store.list('')) bytes += o.size;
      lake = { bytes, at: new Date().toISOString() };
    })()
      .catch((err: unknown) => app.log.warn({ err }, 'could not measure the lake; the overview keeps the last size'))
      .finally(() => (measuring = undefined));
  };
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await seeding;
    await measuring;
  });

  app.get('/v1/overview', {
    config: { permission: 'devices:read' },
    schema: { tags: ['overview'], summary: 'Fleet at a glance: event rate, devices online, consumer lag, open alerts, storage (for the dashboard)', response: { 200: OverviewReply } },
  }, async (req) => {
    const caller = callerOf(req);
    const kinds = [...visibleKinds(caller)];
    measureLake();
    await seeding;
    const now = Date.now();
    const total = await endTotal();
    const last = samples.at(-1);
    const perSecond = last && now > last.at ? Math.max(0, (total - last.total) / ((now - last.at) / 1000)) : 0;
    // A rate from the previous sample when the last one is too fresh to say much.
    const live = samples.slice(1).map((s, i) => ({ at: s.at, perSecond: Math.max(0, (s.total - samples[i]!.total) / ((s.at - samples[i]!.at) / 1000)) }));
    const rates = [...seeded.filter((p) => p.at > now - HOUR_MS), ...live].map((p) => ({ at: new Date(p.at).toISOString(), perSecond: p.perSecond }));
    const current = now - (last?.at ?? now) < 1000 ? (rates.at(-1)?.perSecond ?? perSecond) : perSecond;

    const k = opts.db.kysely;
    const cutoff = new Date(now - onlineWithinMs);
    const deviceRows = kinds.length === 0 ? [] : await k
      .selectFrom('devices')
      .select((eb) => ['kind', eb.fn.countAll<string>().as('n'), eb.fn.count<string>(eb.case().when('last_seen', '>=', cutoff).then(1).end()).as('online')])
      .where('kind', 'in', kinds)
      .$if(caller.kind === 'key' && caller.device !== undefined, (q) => q.where('id', '=', caller.kind === 'key' ? caller.device! : ''))
      .groupBy('kind')
      .execute();
    const byKind: Record<string, number> = {};
    let online = 0;
    let all = 0;
    for (const r of deviceRows) {
      byKind[r.kind] = Number(r.n);
      all += Number(r.n);
      online += Number(r.online);
    }

    let alerts: Record<string, number> | null = null;
    if (allows(caller, 'alerts:read')) {
      alerts = { critical: 0, high: 0, medium: 0, low: 0, info: 0 };
      if (kinds.length > 0) {
        let q = k.selectFrom('alerts').select((eb) => ['severity', eb.fn.countAll<string>().as('n')]).where('status', 'in', ['open', 'acknowledged']).where('device_kind', 'in', kinds);
        if (caller.kind === 'key' && caller.device !== undefined) q = q.where('device_id', '=', caller.device);
        for (const r of await q.groupBy('severity').execute()) alerts[r.severity] = Number(r.n);
      }
    }

    const lag: { topic: string; group: string; records: number }[] = [];
    for (const topic of opts.lagTopics) {
      for (const g of await opts.stream.lag(topic)) lag.push({ topic, group: g.group, records: g.partitions.reduce((s, p) => s + p.lag, 0) });
    }
    let streamBytes = 0;
    for (const topic of new Set([opts.topic, ...opts.lagTopics])) streamBytes += (await opts.stream.describe(topic)).partitions.reduce((s, p) => s + p.bytes, 0);
    const databaseBytes = await sql<{ n: string }>`select pg_database_size(current_database()) as n`.execute(k).then((r) => Number(r.rows[0]?.n ?? 0), () => null);

    return {
      at: new Date(now).toISOString(),
      events: { perSecond: current, lastHour: rates, total },
      devices: { online, offline: all - online, onlineWithinSeconds: Math.round(onlineWithinMs / 1000), byKind },
      lag,
      alerts,
      storage: { streamBytes, databaseBytes, lakeBytes: lake?.bytes ?? null, lakeMeasuredAt: lake?.at ?? null },
    };
  });
}
