import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { get as httpGet, type IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { silentLogger, type TelemetryEvent } from '@strata/core';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { TELEMETRY_TOPIC } from '../platform.js';
import { LiveHub } from '../live-hub.js';
import { liveRoutes } from './live.js';
import { auditRecords, auth, ingest, usersOfEachRole, type Callers } from './test-support.js';

let t: TestPlatform;
let who: Callers;

beforeAll(async () => {
  t = await startTestPlatform();
  who = await usersOfEachRole(t, 'live');
  const ts = new Date().toISOString();
  await ingest(t, [
    { device: 'lv-m1', ts, metrics: { rpm: 0 }, tags: { kind: 'machine' } },
    { device: 'lv-m2', ts, metrics: { rpm: 0 }, tags: { kind: 'machine' } },
    { device: 'lv-p1', ts, metrics: { spo2: 97 }, tags: { kind: 'patient' } },
  ]);
  await t.platform.state!.caughtUp();
});
afterAll(async () => t.close());

type Block = { comment: string } | { event: string; data: string };

/**
 * An SSE client: `next()` is the next block (comment or event), undefined at the end of the
 * stream. On node:http with its own connection: fetch's pool opens a spare connection when an
 * aborted one closes, and a server's close() then waits for that silent connection to time out.
 */
async function openLive(baseUrl: string, devices: string, credential?: string) {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpGet(`${baseUrl}/v1/live?devices=${encodeURIComponent(devices)}`, { agent: false, headers: credential ? auth(credential) : {} }, resolve);
    req.on('error', reject);
  });
  res.setEncoding('utf8');
  const chunks = res[Symbol.asyncIterator]() as AsyncIterator<string>;
  let buffered = '';
  return {
    status: res.statusCode,
    headers: res.headers,
    abort: () => res.destroy(),
    async next(): Promise<Block | undefined> {
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end >= 0) {
          const lines = buffered.slice(0, end).split('\n');
          buffered = buffered.slice(end + 2);
          if (lines[0]!.startsWith(':')) return { comment: lines[0]!.slice(1).trim() };
          const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2) ?? '';
          return { event: field('event'), data: field('data') };
        }
        const chunk = await chunks.next().catch(() => ({ done: true as const, value: undefined }));
        if (chunk.done) return undefined;
        buffered += chunk.value;
      }
    },
    /** The next `n` readings, skipping comments. */
    async readings(n: number): Promise<TelemetryEvent[]> {
      const out: TelemetryEvent[] = [];
      while (out.length < n) {
        const block = await this.next();
        if (block === undefined) throw new Error(`stream ended after ${out.length} readings`);
        if ('event' in block) {
          expect(block.event).toBe('reading');
          out.push(JSON.parse(block.data) as TelemetryEvent);
        }
      }
      return out;
    },
  };
}

describe('GET /v1/live', () => {
  it('streams the readings of the subscribed devices only, in order per device', async () => {
    const live = await openLive(t.platform.url, 'lv-m1,lv-p1', t.adminKey);
    try {
      expect(live.status).toBe(200);
      expect(live.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(await live.next()).toEqual({ comment: 'subscribed' });
      const ts = new Date().toISOString();
      await ingest(t, [
        { id: 'lv-a', device: 'lv-m2', ts, metrics: { rpm: 1 } },
        { id: 'lv-b', device: 'lv-m1', ts, metrics: { rpm: 2 } },
        { id: 'lv-c', device: 'lv-p1', ts, metrics: { spo2: 95 } },
        { id: 'lv-d', device: 'lv-m1', ts, metrics: { rpm: 3 } },
      ]);
      const got = await live.readings(3);
      expect(got.filter((e) => e.device === 'lv-m1').map((e) => e.id)).toEqual(['lv-b', 'lv-d']);
      expect(got.find((e) => e.device === 'lv-p1')).toMatchObject({ id: 'lv-c', metrics: { spo2: 95 }, source: 'http', ts: expect.any(String), received_at: expect.any(String) });
      // lv-m2 was appended long before this marker: had it been sent, it would have come by now.
      await ingest(t, [{ id: 'lv-e', device: 'lv-m1', ts, metrics: { rpm: 4 } }]);
      got.push(...(await live.readings(1)));
      expect(got.map((e) => e.id).sort()).toEqual(['lv-b', 'lv-c', 'lv-d', 'lv-e']);
    } finally {
      live.abort();
    }
  });

  it('answers a device the caller may not see like a missing one, and bad lists with 400', async () => {
    const body = async (devices: string, credential: string) => {
      const res = await fetch(`${t.platform.url}/v1/live?devices=${devices}`, { headers: auth(credential) });
      return { status: res.status, json: (await res.json()) as unknown };
    };
    expect(await body('lv-p1', who.operator)).toEqual({ status: 404, json: { error: { code: 'STRATA_ERR_HTTP_DEVICE_NOT_FOUND', message: 'no device lv-p1' } } });
    expect(await body('lv-m1,lv-x9', t.adminKey)).toEqual({ status: 404, json: { error: { code: 'STRATA_ERR_HTTP_DEVICE_NOT_FOUND', message: 'no device lv-x9' } } });
    expect((await body('lv-m1', who.clinician)).status).toBe(404);
    for (const devices of ['', 'lv-m1,', ',lv-m1', 'lv-m1;drop', encodeURIComponent('../etc'), Array.from({ length: 101 }, (_, i) => `d${i}`).join(',')]) {
      expect((await body(devices, t.adminKey)).status, devices.slice(0, 20)).toBe(400);
    }
    expect((await body('lv-m1', who.analyst)).status).toBe(403);
    const anonymous = await fetch(`${t.platform.url}/v1/live?devices=lv-m1`);
    await anonymous.body?.cancel();
    expect(anonymous.status).toBe(401);
  });

  it('audits a subscription to a patient device before any reading is sent', async () => {
    const live = await openLive(t.platform.url, 'lv-p1,lv-m1', t.adminKey);
    live.abort();
    expect(live.status).toBe(200);
    const [record] = await auditRecords(t, 'device.live.subscribe');
    expect(record).toMatchObject({ actor: expect.stringMatching(/^key:/), resource: 'device:lv-p1', outcome: 'success' });

    await sql`alter table audit_log rename to audit_log_away`.execute(t.platform.db.kysely);
    try {
      const refused = await fetch(`${t.platform.url}/v1/live?devices=lv-p1`, { headers: auth(who.clinician) });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('STRATA_ERR_HTTP_AUDIT_UNAVAILABLE');
    } finally {
      await sql`alter table audit_log_away rename to audit_log`.execute(t.platform.db.kysely);
    }
  });

  it('is in the OpenAPI document as an event stream', async () => {
    const doc = (await t.platform.app.inject('/openapi.json')).json();
    const op = doc.paths['/v1/live'].get;
    expect(op).toMatchObject({ tags: ['telemetry'], summary: expect.any(String) });
    expect(Object.keys(op.responses['200'].content)).toEqual(['text/event-stream']);
  });

  it('ends open streams cleanly when the platform stops', async () => {
    const own = await startTestPlatform();
    const created = await own.platform.app.inject({ method: 'POST', url: '/v1/devices', headers: auth(own.adminKey), payload: { id: 'stop-1', kind: 'machine' } });
    expect(created.statusCode).toBe(201);
    const live = await openLive(own.platform.url, 'stop-1', own.adminKey);
    expect(await live.next()).toEqual({ comment: 'subscribed' });
    await own.close();
    let block = await live.next();
    while (block !== undefined && 'comment' in block) block = await live.next();
    expect(block).toBeUndefined();
  });
});

describe('liveRoutes on its own', () => {
  let app: FastifyInstance;
  let hub: LiveHub;
  let url: string;

  let bareKeyId: string;

  beforeAll(async () => {
    bareKeyId = (await t.platform.auth.directory.createKey({ scopes: ['admin'] }, { actor: 'system' })).info.id;
    hub = new LiveHub({ stream: t.platform.stream, topic: TELEMETRY_TOPIC, logger: silentLogger, pollMs: 20 });
    app = Fastify();
    app.addHook('onRequest', async (req) => {
      req.caller = { kind: 'key', id: bareKeyId, scopes: ['admin'] };
    });
    await app.register(liveRoutes, { hub, db: t.platform.db, directory: t.platform.auth.directory, heartbeatMs: 50 });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app.close();
    await hub.close();
  });

  it('ends the stream once its key is revoked', async () => {
    const { key, info } = await t.platform.auth.directory.createKey({ scopes: ['read'] }, { actor: 'system' });
    const ownApp = Fastify();
    ownApp.addHook('onRequest', async (req) => {
      req.caller = t.platform.auth.directory.verifyKey(key)!;
    });
    await ownApp.register(liveRoutes, { hub, db: t.platform.db, directory: t.platform.auth.directory, heartbeatMs: 50 });
    const ownUrl = await ownApp.listen({ host: '127.0.0.1', port: 0 });
    try {
      const live = await openLive(ownUrl, 'lv-m2');
      expect(await live.next()).toEqual({ comment: 'subscribed' });
      expect(await live.next()).toEqual({ comment: 'heartbeat' });
      await t.platform.auth.directory.revokeKey(info.id, { actor: 'system' });
      let block = await live.next();
      while (block !== undefined && 'comment' in block && block.comment === 'heartbeat') block = await live.next();
      expect(block).toBeUndefined();
    } finally {
      await ownApp.close();
    }
  });

  it('sends comment heartbeats while nothing happens', async () => {
    const live = await openLive(url, 'lv-m2');
    try {
      expect(await live.next()).toEqual({ comment: 'subscribed' });
      expect(await live.next()).toEqual({ comment: 'heartbeat' });
      expect(await live.next()).toEqual({ comment: 'heartbeat' });
    } finally {
      live.abort();
    }
  });

  it('unsubscribes from the hub when the client goes away', async () => {
    const live = await openLive(url, 'lv-m1,lv-m2');
    expect(await live.next()).toEqual({ comment: 'subscribed' });
    expect(hub.subscribers).toBeGreaterThan(0);
    live.abort();
    await vi.waitFor(() => expect(hub.subscribers).toBe(0));
  });

  it('does not hang close() on open streams', async () => {
    const own = Fastify();
    own.addHook('onRequest', async (req) => {
      req.caller = { kind: 'key', id: bareKeyId, scopes: ['admin'] };
    });
    await own.register(liveRoutes, { hub, db: t.platform.db, directory: t.platform.auth.directory });
    const ownUrl = await own.listen({ host: '127.0.0.1', port: 0 });
    const streams = await Promise.all([openLive(ownUrl, 'lv-m1'), openLive(ownUrl, 'lv-m2')]);
    for (const s of streams) expect(await s.next()).toEqual({ comment: 'subscribed' });
    await own.close();
    for (const s of streams) expect(await s.next()).toBeUndefined();
    expect(hub.subscribers).toBe(0);
  });
});

describe('LiveHub', () => {
  const record = (device: string, id: string) => ({
    key: device,
    value: Buffer.from(JSON.stringify({ id, device, ts: new Date().toISOString(), metrics: { v: 1 }, received_at: new Date().toISOString(), source: 'test' })),
  });
  const takeUntil = async (sub: { take(ms: number): Promise<TelemetryEvent[] | undefined> }, n: number) => {
    const got: TelemetryEvent[] = [];
    while (got.length < n) {
      const batch = await sub.take(1000);
      if (batch === undefined) break;
      got.push(...batch);
    }
    return got;
  };

  it('delivers only what is appended after subscribe, to the subscribers of each device', async () => {
    const hub = new LiveHub({ stream: t.platform.stream, topic: TELEMETRY_TOPIC, logger: silentLogger, pollMs: 10 });
    try {
      await t.platform.stream.append(TELEMETRY_TOPIC, [record('hub-1', 'old-1')]);
      const one = await hub.subscribe(['hub-1']);
      const both = await hub.subscribe(['hub-1', 'hub-2']);
      await t.platform.stream.append(TELEMETRY_TOPIC, [record('hub-2', 'new-2'), record('hub-1', 'new-1'), record('hub-3', 'new-3')]);
      expect((await takeUntil(one, 1)).map((e) => e.id)).toEqual(['new-1']);
      expect((await takeUntil(both, 2)).map((e) => e.id).sort()).toEqual(['new-1', 'new-2']);
      one.close();
      expect(await one.take(10)).toBeUndefined();
      expect(await one.ended).toBe('closed');
      expect(hub.subscribers).toBe(1);
    } finally {
      await hub.close();
    }
  });

  it('drops a subscriber that falls more than maxQueued events behind instead of buffering', async () => {
    const hub = new LiveHub({ stream: t.platform.stream, topic: TELEMETRY_TOPIC, logger: silentLogger, pollMs: 10, maxQueued: 3 });
    try {
      const slow = await hub.subscribe(['hub-slow']);
      const other = await hub.subscribe(['hub-other']);
      await t.platform.stream.append(TELEMETRY_TOPIC, Array.from({ length: 10 }, (_, i) => record('hub-slow', `s-${i}`)));
      expect(await slow.ended).toBe('overflow');
      expect(await slow.take(10)).toBeUndefined();
      expect(hub.subscribers).toBe(1);
      await t.platform.stream.append(TELEMETRY_TOPIC, [record('hub-other', 'o-1')]);
      expect((await takeUntil(other, 1)).map((e) => e.id)).toEqual(['o-1']);
    } finally {
      await hub.close();
    }
  });

  it('ends every subscription on close', async () => {
    const hub = new LiveHub({ stream: t.platform.stream, topic: TELEMETRY_TOPIC, logger: silentLogger });
    const sub = await hub.subscribe(['hub-1']);
    await hub.close();
    expect(await sub.ended).toBe('shutdown');
    await expect(hub.subscribe(['hub-1'])).rejects.toThrow(/closed/);
  });
});
