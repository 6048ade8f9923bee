import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { openEmbeddedStream, type EmbeddedStream } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { overviewRoutes } from './overview.js';

const MIN = 60_000;
const HOUR = 3_600_000;

let t: TestPlatform;
let dir: { dir: string; remove(): void };
let stream: EmbeddedStream;
/** The stream's clock: a time in the past while the "previous process" appends, then the real one. */
let clock: number | undefined;
let started: number;
let app: FastifyInstance;

const records = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ key: `d-${i % 7}`, value: Buffer.from(`${tag}-${i}`) }));

beforeAll(async () => {
  t = await startTestPlatform();
  dir = tempDir('overview-stream');
  stream = await openEmbeddedStream({ dir: dir.dir, now: () => clock ?? Date.now() });
  await stream.ensureTopic('telemetry', { partitions: 3 });
  // What a previous process appended: 7 events 2 h ago, 30 at 50 min ago, 90 at 20 min ago. Append
  // times are the stream's (offsetForTime is by append time); event times are left to default.
  started = Date.now();
  for (const [ago, n] of [[2 * HOUR, 7], [50 * MIN, 30], [20 * MIN, 90]] as const) {
    clock = started - ago;
    await stream.append('telemetry', records(n, String(ago)));
  }
  clock = undefined;

  // This process starts now, with the overview on that stream (the caller: an admin key).
  app = Fastify();
  app.addHook('onRequest', async (req) => {
    req.caller = { kind: 'key', id: 'overview-test', scopes: ['admin'] };
  });
  await app.register(overviewRoutes, { db: t.platform.db, stream, store: t.platform.store, topic: 'telemetry', lagTopics: [], sampleMs: 100 });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await stream?.close();
  dir?.remove();
  await t?.close();
});

type Reply = { events: { perSecond: number; total: number; lastHour: { at: string; perSecond: number }[] } };
const overview = async (): Promise<Reply> => {
  const res = await app.inject({ url: '/v1/overview' });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Reply>();
};

describe('GET /v1/overview after a restart', () => {
  it('shows the hour before the process started, a point a minute, from the stream', async () => {
    const { events } = await overview();
    expect(events.total).toBe(127);
    // The first 60 points: a minute apart, the last at the process's start (after `started`).
    const before = events.lastHour.slice(0, 60);
    expect(before).toHaveLength(60);
    const times = before.map((p) => Date.parse(p.at));
    expect(times.slice(1).map((x, i) => x - times[i]!)).toEqual(new Array(59).fill(MIN));
    expect(times[59]).toBeGreaterThanOrEqual(started);
    // Each minute's events, counted from the rate; the events of 2 h ago are not in the hour.
    const counts = before.map((p) => Math.round(p.perSecond * 60));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(120);
    const minuteOf = (ago: number) => before.find((p) => Date.parse(p.at) - MIN <= started - ago && started - ago < Date.parse(p.at));
    expect(minuteOf(50 * MIN)?.perSecond).toBe(0.5);
    expect(minuteOf(20 * MIN)?.perSecond).toBe(1.5);
    expect(counts.filter((n) => n > 0)).toHaveLength(2);
    // Oldest first, live points after.
    const all = events.lastHour.map((p) => Date.parse(p.at));
    expect(all).toEqual([...all].sort((a, b) => a - b));
  });

  it('goes on counting live appends after the seeded hour', async () => {
    await stream.append('telemetry', records(10, 'live'));
    let live: { at: string; perSecond: number }[] = [];
    for (let i = 0; i < 100 && !live.some((p) => p.perSecond > 0); i++) {
      await new Promise((r) => setTimeout(r, 50));
      live = (await overview()).events.lastHour.filter((p) => Date.parse(p.at) > started);
    }
    expect(live.some((p) => p.perSecond > 0)).toBe(true);
    expect((await overview()).events.total).toBe(137);
  });
});
