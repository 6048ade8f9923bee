import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PREDICTION, PREDICTIONS_TOPIC, type Logger } from '@strata/core';
import { startStateConsumer, type StateConsumer } from '@strata/db';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { AI4I_ONLINE, AI4I_SCHEMA, createOnlineScorer, parseLabelledCsv, PDM_MODELS, PDM_SCHEMA, PDM_SPEC, trainModel, type ModelArtifact, type OnlinePrediction, type OnlineScorer } from '@strata/ml';
import { ai4iCsv } from '@strata/ml/testing';
import { openEmbeddedStream, type EmbeddedStream } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import { DRIFT_RULE_ID, startScoring, type ActiveModel, type ScoringOptions, type ScoringRole } from './scoring.js';

/**
 * The scoring consumer on its own (embedded stream with a test clock for append times, embedded
 * database): recovery after a restart (warm-up anchored on the stream, maintenance seeded from the
 * database), the machines it keeps, the drift alert with two members, a model that cannot score.
 */

const MINUTE = 60_000;
const HOUR = 3_600_000;
const TOPIC = 'telemetry';

interface Env {
  stream: EmbeddedStream;
  db: TestDb;
  /** The stream's and the roles' clock (append times, received_at). */
  clock: { now: number };
}
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function env(partitions = 1, start = Date.now() - 3 * 86_400_000): Promise<Env> {
  const clock = { now: start };
  const dir = tempDir('scoring-recovery');
  cleanups.push(() => dir.remove());
  const stream = await openEmbeddedStream({ dir: dir.dir, now: () => clock.now });
  cleanups.push(() => stream.close());
  await stream.ensureTopic(TOPIC, { partitions, retentionMs: 30 * 86_400_000 });
  await stream.ensureTopic(PREDICTIONS_TOPIC, { partitions: 1, retentionMs: 30 * 86_400_000 });
  const db = await openTestDatabase();
  cleanups.push(() => db.dispose());
  return { stream, db, clock };
}

async function role(e: Env, model: ActiveModel | undefined, opts: Partial<ScoringOptions> = {}): Promise<ScoringRole> {
  const r = await startScoring({
    db: e.db,
    stream: e.stream,
    loadActive: async () => model,
    createScorer: (artifact, o) => createOnlineScorer(artifact, o),
    maxWaitMs: 20,
    refreshMs: 3_600_000,
    now: () => e.clock.now,
    ...opts,
  });
  cleanups.push(() => r.stop());
  return r;
}

interface Reading {
  device: string;
  ts: number;
  metrics: Record<string, number>;
  tags?: Record<string, string>;
}

/** Appends a reading as ingest would (a telemetry event keyed by device). */
function appendOne(e: Env, r: Reading) {
  const ts = new Date(r.ts).toISOString();
  const event = { id: `${r.device}-${r.ts}-${Object.keys(r.metrics).join('').replace(/[^A-Za-z0-9]/g, '')}`, device: r.device, ts, metrics: r.metrics, ...(r.tags && { tags: r.tags }), received_at: ts, source: 'test' };
  return e.stream.append(TOPIC, [{ key: r.device, ts: r.ts, value: Buffer.from(JSON.stringify(event)) }]);
}

/** Appends readings one by one, the clock at each one's event time (append time = event time). */
async function append(e: Env, readings: readonly Reading[]): Promise<void> {
  for (const r of readings) {
    e.clock.now = Math.max(e.clock.now, r.ts);
    await appendOne(e, r);
  }
}

async function published(e: Env): Promise<{ device: string; ts: number; probability: number }[]> {
  const out: { device: string; ts: number; probability: number }[] = [];
  for (const r of await e.stream.read(PREDICTIONS_TOPIC, 0, 0, { maxRecords: 100_000 })) {
    const p = JSON.parse(r.value.toString('utf8')) as { device: string; ts: string; metrics: Record<string, number> };
    out.push({ device: p.device, ts: Date.parse(p.ts), probability: p.metrics[PREDICTION.probabilityMetric]! });
  }
  return out;
}

/** What a scorer that saw every reading from the start makes of them. */
function fresh(artifact: ModelArtifact, readings: readonly Reading[]): OnlinePrediction[] {
  const scorer = createOnlineScorer(artifact, { model: 'pm@1' });
  return readings.flatMap((r) => scorer.push(r.device, r.ts, r.metrics, r.tags));
}

describe('restart after longer than the warm-up (latest spec)', () => {
  let artifact: ModelArtifact;
  beforeAll(() => {
    artifact = trainModel(parseLabelledCsv(ai4iCsv(1500, 5), AI4I_SCHEMA, { source: 'generated.csv' }), AI4I_SCHEMA, { kind: 'logistic', seed: 1, online: AI4I_ONLINE });
  });
  const HEALTHY = { air_temperature_k: 300, process_temperature_k: 310, rpm: 2000, torque_nm: 39, tool_wear_min: 50 };
  const STRAINED = { air_temperature_k: 300, process_temperature_k: 310, rpm: 1250, torque_nm: 70, tool_wear_min: 200 };
  const MACHINE = { kind: 'machine', type: 'M' };

  it('rebuilds the bucket that straddles the committed offset: its prediction is a fresh scorer’s', async () => {
    const e = await env();
    const base = Math.floor(e.clock.now / MINUTE) * MINUTE;
    const at = (minute: number, s: number) => base + minute * MINUTE + s * 1000;
    const model = { name: 'pm', version: 1, artifact };
    // Minutes 0–4 and the first half of minute 5 (strained) before the stop, the rest of minute 5 (healthy) and minute 6 after it, an hour later.
    const before: Reading[] = [];
    for (let m = 0; m < 5; m++) for (let s = 0; s < 60; s += 10) before.push({ device: 'press-1', ts: at(m, s), metrics: HEALTHY, tags: MACHINE });
    for (let s = 0; s < 30; s += 10) before.push({ device: 'press-1', ts: at(5, s), metrics: STRAINED, tags: MACHINE });
    // Not machines: neither scored nor held.
    before.push({ device: 'temp-1', ts: at(5, 1), metrics: HEALTHY, tags: { kind: 'sensor' } }, { device: 'thing-1', ts: at(5, 2), metrics: HEALTHY });
    const first = await role(e, model);
    await append(e, before);
    await first.caughtUp();
    expect(first.stats()).toMatchObject({ devices: 1, ignored: 2, predictions: 5 });
    await first.stop();

    e.clock.now = at(5, 30) + HOUR;
    const after: Reading[] = [];
    for (let s = 30; s < 60; s += 10) after.push({ device: 'press-1', ts: at(5, s), metrics: HEALTHY, tags: MACHINE });
    after.push({ device: 'press-1', ts: at(6, 0), metrics: HEALTHY, tags: MACHINE });
    const second = await role(e, model);
    for (const r of after) await appendOne(e, r);
    await second.caughtUp();
    expect(second.stats()).toMatchObject({ predictions: 1, events: 4 });
    expect(second.stats().rebuilt).toBeGreaterThan(0);
    const straddling = (await published(e)).find((p) => p.ts === at(6, 0))!;
    const expected = fresh(artifact, [...before, ...after].filter((r) => r.tags === MACHINE)).find((p) => p.ts === at(6, 0))!;
    expect(straddling.probability).toBeCloseTo(expected.probability, 12);
  });

  it('forgets machines idle for longer than the warm-up', async () => {
    const e = await env();
    const base = Math.floor(e.clock.now / MINUTE) * MINUTE;
    const r = await role(e, { name: 'pm', version: 1, artifact });
    await append(e, [0, 1, 2].flatMap((m) => ['press-1', 'press-2'].map((device) => ({ device, ts: base + m * MINUTE, metrics: HEALTHY, tags: MACHINE }))));
    await r.caughtUp();
    await r.refresh();
    expect(r.stats()).toMatchObject({ devices: 2, evicted: 0 });
    // press-2 falls silent; ten minutes on (warm-up: two one-minute buckets), only press-1 is held.
    await append(e, [{ device: 'press-1', ts: base + 12 * MINUTE, metrics: HEALTHY, tags: MACHINE }]);
    await r.caughtUp();
    await r.refresh();
    expect(r.stats()).toMatchObject({ devices: 1, evicted: 1 });
  });

  it('logs a model version that cannot score once, and tries again only when another version is active', async () => {
    const e = await env();
    const errors: unknown[] = [];
    const logger: Logger = { info: () => undefined, warn: () => undefined, debug: () => undefined, error: (o) => errors.push(o) };
    let active: ActiveModel = { name: 'pm', version: 1, artifact };
    const built: number[] = [];
    const r = await startScoring({
      db: e.db,
      stream: e.stream,
      loadActive: async () => active,
      createScorer: (a, o) => {
        built.push(Number(o.model.split('@')[1]));
        if (o.model === 'pm@2') throw new Error('no online spec');
        return createOnlineScorer(a, o);
      },
      refreshMs: 3_600_000,
      logger,
    });
    cleanups.push(() => r.stop());
    active = { name: 'pm', version: 2, artifact };
    for (let i = 0; i < 3; i++) await r.refresh();
    expect(errors).toHaveLength(1);
    expect(r.stats().model).toBe('pm@1');
    active = { name: 'pm', version: 3, artifact };
    await r.refresh();
    expect(r.stats().model).toBe('pm@3');
    expect(built).toEqual([1, 2, 3]);
  });
});

describe('rolling (Azure PdM) model across a stop and a start', () => {
  let artifact: ModelArtifact;
  beforeAll(() => {
    // A logistic model on random rows of the PdM schema: what matters here is that rows are built and scored the same.
    let seed = 7;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    const rows = Array.from({ length: 400 }, (_, i) => Object.fromEntries(PDM_SCHEMA.features.map((f) => [f.name, f.kind === 'category' ? PDM_MODELS[i % 4]! : rand() * 100])));
    const labels = Uint8Array.from(rows, (_, i) => (i % 5 === 0 ? 1 : 0));
    artifact = trainModel({ rows, labels, sha256: '0', source: 'random' }, PDM_SCHEMA, { kind: 'logistic', seed: 1, online: PDM_SPEC, logistic: { iterations: 50 } });
  });

  it('scores from the first bucket after a restart, its maintenance history seeded from the database: as a fresh scorer does', async () => {
    const base = Math.floor((Date.now() - 3 * 86_400_000) / HOUR) * HOUR;
    const e = await env(1, base);
    const state: StateConsumer = await startStateConsumer({ db: e.db, stream: e.stream, maxWaitMs: 20 });
    cleanups.push(() => state.stop());
    const model = { name: 'pm', version: 1, artifact };
    const tags = { kind: 'machine', model: 'model2', age: '7' };
    const readings = (fromHour: number, toHour: number): Reading[] => {
      const out: Reading[] = [];
      for (let h = fromHour; h < toHour; h++) {
        for (const [i, device] of ['m-1', 'm-2'].entries()) {
          for (let k = 0; k < 3; k++) {
            const x = h * 3 + k + i * 50;
            out.push({ device, ts: base + h * HOUR + k * 20 * MINUTE, metrics: { volt: 170 + 10 * Math.sin(x), rotate: 450 + 30 * Math.cos(x / 3), pressure: 100 + (x % 7), vibration: 40 + (x % 5) }, tags });
          }
          if (h === 0) out.push({ device, ts: base + 10 * MINUTE, metrics: { 'maint.comp1': 1, 'maint.comp2': 1, 'maint.comp3': 1, 'maint.comp4': 1 }, tags });
          // Inside the warm-up the second run re-reads, and (comp3) after its committed offset.
          if (h === 20) out.push({ device, ts: base + h * HOUR + 5 * MINUTE, metrics: { 'maint.comp2': 1, 'error.error1': 1 }, tags });
          if (h === 32) out.push({ device, ts: base + h * HOUR + 5 * MINUTE, metrics: { 'maint.comp3': 1 }, tags });
        }
      }
      return out;
    };
    const before = readings(0, 31);
    const after = readings(31, 41);
    const first = await role(e, model);
    await append(e, before);
    await first.caughtUp();
    await first.stop();
    await append(e, after);
    await state.caughtUp(); // the database is ahead of scoring: comp3's newest maintenance is after the committed offset

    const second = await role(e, model);
    await second.caughtUp();
    const expected = fresh(artifact, [...before, ...after]).filter((p) => p.ts > base + 30 * HOUR);
    expect(expected).toHaveLength(20); // buckets 30–39 of two machines
    const got = (await published(e)).filter((p) => p.ts > base + 30 * HOUR);
    expect(got.map((p) => [p.device, p.ts])).toEqual(expected.map((p) => [p.device, p.ts]));
    got.forEach((p, i) => expect(p.probability).toBeCloseTo(expected[i]!.probability, 12));
    expect(second.stats()).toMatchObject({ skipped: 0, skippedBy: {}, predictions: 20 });
  });
});

describe('two scoring members', () => {
  /** A stand-in scorer: PSI as the test says; every event of a new device held. */
  function fakeScorer(psi: { value: Record<string, number> }): OnlineScorer {
    const machines = new Set<string>();
    return {
      push: (device) => (machines.add(device), []),
      flush: () => [],
      forget: (device) => machines.delete(device),
      seedMaintenance: () => undefined,
      devicesIdleSince: () => [],
      drift: () => psi.value,
      get devices() {
        return machines.size;
      },
      scored: 0,
      skipped: 0,
      skippedBy: {},
      late: 0,
      spec: AI4I_ONLINE,
    };
  }

  it('only the member holding partition 0 decides on the ml-drift alert, from its state in the database', async () => {
    const e = await env(2, Date.now());
    const artifact = { online: AI4I_ONLINE } as unknown as ModelArtifact;
    const model = { name: 'pm', version: 1, artifact };
    const psi = [{ value: { torqueNm: 0.5 } }, { value: { torqueNm: 0.5 } }];
    let n = 0;
    const a = await role(e, model, { createScorer: () => fakeScorer(psi[0]!) });
    // Machines on both partitions, all held by a while it is alone.
    const devices = Array.from({ length: 8 }, (_, i) => `press-${i}`);
    await append(e, devices.map((device) => ({ device, ts: e.clock.now, metrics: { torque_nm: 40 }, tags: { kind: 'machine' } })));
    await a.caughtUp();
    expect(a.stats().devices).toBe(8);
    const b = await role(e, model, { createScorer: () => fakeScorer(psi[1]!) });
    await a.refresh();
    await b.refresh();
    // a gave a partition (and its machines) to b.
    expect(a.stats().devices).toBeLessThan(8);
    const alerts = () => e.db.kysely.selectFrom('alerts').select(['status', 'resolved_by']).where('rule_id', '=', DRIFT_RULE_ID).orderBy('opened_at').execute();
    const [leader, other] = a.stats().driftLeader ? [a, b] : [b, a];
    const [leaderPsi, otherPsi] = leader === a ? [psi[0]!, psi[1]!] : [psi[1]!, psi[0]!];
    expect(other.stats().driftLeader).toBe(false);
    expect(await alerts()).toEqual([{ status: 'open', resolved_by: null }]);

    // The other member's window is back under the threshold: it does not resolve the leader's alert.
    otherPsi.value = { torqueNm: 0.05 };
    for (n = 0; n < 2; n++) {
      await other.refresh();
      await leader.refresh();
    }
    expect(await alerts()).toEqual([{ status: 'open', resolved_by: null }]);

    // An operator resolves it while the drift goes on: the leader raises a new one.
    await e.db.kysely.updateTable('alerts').set({ status: 'resolved', resolved_by: 'user:admin', resolved_at: new Date() }).where('rule_id', '=', DRIFT_RULE_ID).execute();
    await leader.refresh();
    expect(await alerts()).toEqual([
      { status: 'resolved', resolved_by: 'user:admin' },
      { status: 'open', resolved_by: null },
    ]);
    leaderPsi.value = { torqueNm: 0.05 };
    await leader.refresh();
    expect((await alerts()).map((x) => x.status)).toEqual(['resolved', 'resolved']);
  });
});
