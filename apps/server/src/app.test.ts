import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { countBy, readRawZone } from '@strata/testkit';
import { IngestService } from '@strata/ingest';
import { DEFAULT_INGEST_LIMITS } from '@strata/core';
import type { Delivery } from '@strata/lake';
import { startTestPlatform, type TestPlatform } from './test-platform.js';
import { TELEMETRY_TOPIC } from './platform.js';
import { buildApp } from './app.js';
import { createMetrics } from './metrics.js';

let t: TestPlatform;
let app: FastifyInstance;

beforeAll(async () => {
  t = await startTestPlatform({ 'http.bodyLimitBytes': 64 * 1024, 'ingest.maxEventsPerRequest': 100 });
  app = t.platform.app;
});
afterAll(async () => t.close());

const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const json = { 'content-type': 'application/json' };

async function endOffsets(): Promise<number[]> {
  return (await t.platform.stream.describe(TELEMETRY_TOPIC)).partitions.map((p) => p.endOffset);
}

async function flushAndReadRaw() {
  const res = await app.inject({ method: 'POST', url: '/v1/admin/flush', headers: auth(t.adminKey) });
  expect(res.statusCode).toBe(200);
  return readRawZone(t.platform.store, TELEMETRY_TOPIC);
}

async function createKey(body: Record<string, unknown>): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/v1/keys', headers: auth(t.adminKey), payload: body });
  expect(res.statusCode).toBe(201);
  return res.json<{ key: string }>().key;
}

describe('operations endpoints', () => {
  it('serves /health and /ready without a key', async () => {
    expect((await app.inject('/health')).json()).toEqual({ status: 'ok' });
    const ready = await app.inject('/ready');
    expect(ready.statusCode).toBe(200);
  });

  it('guards /metrics and every other route with a key', async () => {
    expect((await app.inject('/metrics')).statusCode).toBe(401);
    expect((await app.inject('/v1/nothing-here')).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/nothing-here', headers: auth(t.adminKey) })).statusCode).toBe(404);
    const metrics = await app.inject({ url: '/metrics', headers: { 'x-api-key': t.adminKey } });
    expect(metrics.statusCode).toBe(200);
    // A scraper's key needs only the metrics scope, and may do nothing else.
    const scraperKey = await createKey({ scopes: ['metrics'] });
    expect((await app.inject({ url: '/metrics', headers: auth(scraperKey) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...auth(scraperKey), ...json }, payload: { sensorId: 's', v: 1 } })).statusCode).toBe(403);
    expect((await app.inject({ url: '/metrics', headers: auth(await createKey({ scopes: ['ingest'] })) })).statusCode).toBe(403);
    expect(metrics.body).toContain('strata_ingest_events_total');
    expect(metrics.body).toContain('strata_stream_consumer_lag_records');
  });
});

describe('POST /v1/ingest', () => {
  it('turns the seed-002 object into a telemetry event in the raw zone, under its event-time hour', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/sensors',
      headers: { ...auth(t.adminKey), ...json },
      payload: { sensorId: 'sensor-001', temperature: 72.5, timestamp: '2025-12-04T12:00:00Z' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ accepted: 1, duplicates: 0 });
    const raw = await flushAndReadRaw();
    const line = raw.find((l) => l.event.device === 'sensor-001');
    expect(line?.event).toMatchObject({ device: 'sensor-001', ts: '2025-12-04T12:00:00.000Z', metrics: { temperature: 72.5 }, source: 'http' });
    expect(line?.key).toMatch(/^raw\/telemetry\/year=2025\/month=12\/day=04\/hour=12\/telemetry-\d+-\d+-\d+\.ndjson\.gz$/);
  });

  it('accepts a JSON array, NDJSON and SenML', async () => {
    const ts = new Date().toISOString();
    const bodies: [string, string, number][] = [
      ['application/json', JSON.stringify([{ device: 'fmt-a', ts, metrics: { x: 1 } }, { device: 'fmt-a', ts, metrics: { x: 2 } }]), 2],
      ['application/x-ndjson', `{"device":"fmt-b","ts":"${ts}","metrics":{"x":1}}\n{"sensorId":"fmt-b","x":2}\n`, 2],
      ['application/senml+json', JSON.stringify([{ bn: 'fmt-c/', n: 'temp', u: 'Cel', v: 21.5 }, { n: 'hum', v: 40 }]), 1],
    ];
    for (const [type, payload, accepted] of bodies) {
      const res = await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), 'content-type': type }, payload });
      expect(res.statusCode, `${type}: ${res.body}`).toBe(200);
      expect(res.json().accepted).toBe(accepted);
    }
  });

  it('rejects a request with one bad item whole: 400 with the item, field and reason, nothing written', async () => {
    const before = await endOffsets();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/ingest',
      headers: { ...auth(t.adminKey), ...json },
      payload: [{ sensorId: 'ok-1', temperature: 20 }, { sensorId: 'bad device!', temperature: 20 }, { sensorId: 'ok-2', temperature: 'hot' }],
    });
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: { code: string }; issues: { index: number; field: string; reason: string }[] }>();
    expect(body.error.code).toBe('STRATA_ERR_INGEST_INVALID');
    expect(body.issues.map((i) => i.index)).toEqual([1, 2]);
    expect(body.issues.every((i) => i.field && i.reason)).toBe(true);
    expect(await endOffsets()).toEqual(before);
  });

  it('answers 413 for a body over the limit and for too many events, 415 for other content types', async () => {
    const big = await app.inject({
      method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), ...json },
      payload: JSON.stringify([{ sensorId: 's', note: 'x'.repeat(70 * 1024) }]),
    });
    expect(big.statusCode).toBe(413);
    const many = await app.inject({
      method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), ...json },
      payload: Array.from({ length: 101 }, () => ({ sensorId: 's', v: 1 })),
    });
    expect(many.statusCode).toBe(413);
    for (const type of ['text/plain', 'application/xml', undefined]) {
      const res = await app.inject({
        method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), ...(type && { 'content-type': type }) },
        payload: '{"sensorId":"s","v":1}',
      });
      expect(res.statusCode, String(type)).toBe(415);
    }
  });

  it('answers 401 without a valid key and 403 for a wrong scope or device', async () => {
    const payload = { sensorId: 'pump-1', v: 1 };
    expect((await app.inject({ method: 'POST', url: '/v1/ingest', headers: json, payload })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...json, ...auth('stk_nope') }, payload })).statusCode).toBe(401);
    const pumpKey = await createKey({ scopes: ['ingest'], device: 'pump-1' });
    expect((await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...json, ...auth(pumpKey) }, payload })).statusCode).toBe(200);
    const other = await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...json, ...auth(pumpKey) }, payload: [payload, { sensorId: 'pump-2', v: 1 }] });
    expect(other.statusCode).toBe(403);
    expect(other.json().error.code).toBe('STRATA_ERR_AUTH_FORBIDDEN_DEVICE');
    expect((await app.inject({ method: 'POST', url: '/v1/admin/flush', headers: auth(pumpKey) })).statusCode).toBe(403);
  });

  it('makes retries with client ids idempotent', async () => {
    const payload = [1, 2, 3].map((i) => ({ id: `retry-${i}`, sensorId: 'retry-dev', v: i }));
    const first = await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), ...json }, payload });
    const second = await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), ...json }, payload });
    expect(first.json()).toEqual({ accepted: 3, duplicates: 0 });
    expect(second.json()).toEqual({ accepted: 3, duplicates: 3 });
    const counts = countBy((await flushAndReadRaw()).filter((l) => l.event.device === 'retry-dev'), (l) => String(l.event.id));
    expect([...counts.entries()].sort()).toEqual([['retry-1', 1], ['retry-2', 1], ['retry-3', 1]]);
  });

  it('never crashes on random bodies and writes nothing when it rejects them', async () => {
    const types = ['application/json', 'application/x-ndjson', 'application/senml+json', 'text/plain'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...types), fc.oneof(fc.string(), fc.json(), fc.uint8Array().map((b) => Buffer.from(b).toString('latin1'))), async (type, payload) => {
        const before = await endOffsets();
        const res = await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), 'content-type': type }, payload });
        expect([200, 400, 413, 415]).toContain(res.statusCode);
        expect(res.json()).toBeTypeOf('object');
        if (res.statusCode !== 200) expect(await endOffsets()).toEqual(before);
      }),
      { numRuns: 300 },
    );
  });
});

describe('API keys', () => {
  it('creates a key once-visible, lists it without the secret, and revokes it', async () => {
    const key = await createKey({ scopes: ['ingest'], name: 'gateway' });
    const list = await app.inject({ url: '/v1/keys', headers: auth(t.adminKey) });
    expect(list.body).not.toContain(key);
    const id = key.split('_')[1]!;
    expect(list.json().keys.find((k: { id: string }) => k.id === id)).toMatchObject({ scopes: ['ingest'], name: 'gateway' });
    expect((await app.inject({ method: 'DELETE', url: `/v1/keys/${id}`, headers: auth(t.adminKey) })).statusCode).toBe(200);
    const after = await app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...json, ...auth(key) }, payload: { sensorId: 'g', v: 1 } });
    expect(after.statusCode).toBe(401);
  });

  it('refuses bad key requests with 400 and non-admins with 403', async () => {
    expect((await app.inject({ method: 'POST', url: '/v1/keys', headers: auth(t.adminKey), payload: { scopes: ['root'] } })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/v1/keys', headers: auth(t.adminKey), payload: { scopes: ['ingest'], extra: 1 } })).statusCode).toBe(400);
    const ingestKey = await createKey({ scopes: ['ingest'] });
    expect((await app.inject({ method: 'POST', url: '/v1/keys', headers: auth(ingestKey), payload: { scopes: ['admin'] } })).statusCode).toBe(403);
  });
});

describe('when the stream cannot take more', () => {
  it('answers 503 with Retry-After once unread data fills the size cap, and takes data again once delivery and the store have read it', async () => {
    const small = await startTestPlatform({ 'stream.retentionBytes': 1024 * 1024, 'stream.segmentBytes': 64 * 1024 });
    try {
      const post = () => small.platform.app.inject({
        method: 'POST', url: '/v1/ingest', headers: { ...auth(small.adminKey), ...json },
        payload: Array.from({ length: 1000 }, (_, i) => ({ sensorId: 'one-device', seq: i })),
      });
      let res = await post();
      for (let i = 0; i < 20 && res.statusCode === 200; i++) res = await post();
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.json().error.message).toMatch(/retention cap reached with unread data/);
      // Space comes back once every group is done with the data: delivery (flushed now), the store,
      // and the rules (which keep what follows their last state snapshot, taken every 30 s).
      const flushed = await small.platform.app.inject({ method: 'POST', url: '/v1/admin/flush', headers: auth(small.adminKey) });
      expect(flushed.statusCode).toBe(200);
      await small.platform.state!.caughtUp();
      await small.platform.rules!.consumer.caughtUp();
      await small.platform.rules!.consumer.snapshot();
      expect((await post()).statusCode).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('answers 503 with Retry-After and /ready reports it', async () => {
    const own = await startTestPlatform();
    try {
      await own.platform.stream.close();
      const res = await own.platform.app.inject({
        method: 'POST', url: '/v1/ingest', headers: { ...auth(own.adminKey), ...json }, payload: { sensorId: 's', v: 1 },
      });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.json().error.code).toBe('STRATA_ERR_INGEST_UNAVAILABLE');
      const ready = await own.platform.app.inject('/ready');
      expect(ready.statusCode).toBe(503);
      expect(ready.json().error.message).toMatch(/stream/);
    } finally {
      await own.close().catch(() => undefined);
    }
  });
});

describe('many invalid items', () => {
  it('lists the first 100 with a summary and does not miscount them', async () => {
    const many = await startTestPlatform();
    try {
      const payload = Array.from({ length: 500 }, () => ({ sensorId: 'bad id!', v: 1 }));
      const res = await many.platform.app.inject({
        method: 'POST', url: '/v1/ingest', headers: { ...auth(many.adminKey), ...json }, payload,
      });
      expect(res.statusCode).toBe(400);
      const body = res.json<{ error: { message: string }; issues: { reason: string }[] }>();
      expect(body.issues).toHaveLength(101);
      expect(body.issues[100]!.reason).toMatch(/400 more/);
      expect(body.error.message).toMatch(/^more than 100 invalid item/);
    } finally {
      await many.close();
    }
  });
});

describe('ingest rejection metrics', () => {
  it('count every refused request once, under its reason', async () => {
    const pumpKey = await createKey({ scopes: ['ingest'], device: 'pump-9' });
    const cases: [string, Record<string, string>, string][] = [
      ['invalid', { ...auth(t.adminKey), ...json }, '[{"sensorId":"bad id!","v":1}]'],
      ['too_large', { ...auth(t.adminKey), ...json }, JSON.stringify([{ sensorId: 's', note: 'x'.repeat(70 * 1024) }])],
      ['media_type', { ...auth(t.adminKey), 'content-type': 'text/plain' }, 'x'],
      ['unauthorized', json, '{"sensorId":"s","v":1}'],
      ['forbidden_device', { ...auth(pumpKey), ...json }, '{"sensorId":"pump-8","v":1}'],
    ];
    const counts = async () => {
      const text = (await app.inject({ url: '/metrics', headers: auth(t.adminKey) })).body;
      const read = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
      return {
        reasons: Object.fromEntries(['invalid', 'too_large', 'media_type', 'unauthorized', 'forbidden', 'forbidden_device'].map((r) => [r, read(new RegExp(`^strata_ingest_rejected_total\\{reason="${r}"\\} (\\d+)`, 'm'))])),
        rejected: read(/^strata_ingest_requests_total\{result="rejected"\} (\d+)/m),
      };
    };
    for (const [reason, headers, payload] of cases) {
      const before = await counts();
      const res = await app.inject({ method: 'POST', url: '/v1/ingest', headers, payload });
      expect(res.statusCode, reason).toBeGreaterThanOrEqual(400);
      const after = await counts();
      expect(after.rejected - before.rejected, reason).toBe(1);
      for (const [r, n] of Object.entries(after.reasons)) expect(n - before.reasons[r]!, `${reason}: ${r}`).toBe(r === reason ? 1 : 0);
    }
  });
});

describe('internal errors', () => {
  it('answer 500 with the request id only, never the internal message', async () => {
    const { stream, store } = t.platform;
    const ingest = new IngestService({ stream, topic: TELEMETRY_TOPIC, limits: DEFAULT_INGEST_LIMITS });
    const broken: Delivery = {
      flush: async () => {
        throw new Error(`corrupt record in ${t.dataDir}/stream/telemetry/0/00000000000000000000.log`);
      },
      stop: async () => undefined,
      stats: () => t.platform.delivery!.stats(),
    };
    const other = await buildApp({ auth: t.platform.auth, db: t.platform.db, ingest, stream, store, delivery: broken, metrics: createMetrics({ stream, topics: [] }), bodyLimitBytes: 1024 * 1024 });
    try {
      const res = await other.inject({ method: 'POST', url: '/v1/admin/flush', headers: { ...auth(t.adminKey), 'x-request-id': 'req-42' } });
      expect(res.statusCode).toBe(500);
      expect(res.json().error).toEqual({ code: 'STRATA_ERR_HTTP_INTERNAL', message: 'internal error (request req-42); see the server log' });
      expect(res.body).not.toContain(t.dataDir);
    } finally {
      await other.close();
    }
  });
});

describe('readiness and bounded admin calls', () => {
  it('reports a failing object store as not ready without leaking paths', async () => {
    const own = await startTestPlatform();
    try {
      await own.platform.store.close();
      const ready = await own.platform.app.inject('/ready');
      expect(ready.statusCode).toBe(503);
      expect(ready.json().error.message).toBe('not ready: storage not writable');
      expect(ready.body).not.toContain(own.dataDir);
    } finally {
      await own.close().catch(() => undefined);
    }
  });

  it('answers a flush that does not finish in time with 503, so shutdown never waits on it forever', async () => {
    const stuck: Delivery = {
      flush: () => new Promise(() => undefined),
      stop: async () => undefined,
      stats: () => t.platform.delivery!.stats(),
    };
    const { stream, store } = t.platform;
    const ingest = new IngestService({ stream, topic: TELEMETRY_TOPIC, limits: DEFAULT_INGEST_LIMITS });
    const other = await buildApp({ auth: t.platform.auth, db: t.platform.db, ingest, stream, store, delivery: stuck, metrics: createMetrics({ stream, topics: [] }), bodyLimitBytes: 1024 * 1024, flushTimeoutMs: 50 });
    try {
      const res = await other.inject({ method: 'POST', url: '/v1/admin/flush', headers: auth(t.adminKey) });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('STRATA_ERR_HTTP_TIMEOUT');
      expect(res.headers['retry-after']).toBe('1');
    } finally {
      await other.close();
    }
  });
});
