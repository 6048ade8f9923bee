import { describe, expect, it } from 'vitest';
import { mlErrors } from '../errors.js';
import { parseLabelledCsv } from '../data/labelled-csv.js';
import { ai4iCsv } from '../testing.js';
import { AI4I_SCHEMA } from '../features/schema.js';
import { loadArtifact, predict } from '../artifact/predict.js';
import { trainModel, type ModelArtifact } from '../artifact/train.js';
import { prng } from '../random.js';
import { createOnlineScorer } from './scorer.js';
import { AI4I_ONLINE } from './spec.js';
import { rollingFeatureNames, rollingSchema, type RollingSpec } from './features.js';
import type { OnlinePrediction } from './types.js';

const data = parseLabelledCsv(ai4iCsv(1500, 3), AI4I_SCHEMA, { source: 'generated.csv' });
const artifact = trainModel(data, AI4I_SCHEMA, { kind: 'gbt', seed: 7, gbt: { nTrees: 15, maxDepth: 3 }, online: AI4I_ONLINE });
const MODEL = 'ai4i@1';

/** 1 Hz events of one machine around a base row for `minutes` minutes, metrics split over two events per second. */
function* machineEvents(device: string, base: (typeof data.rows)[number], minutes: number, seed: number, from = 0): Generator<{ device: string; ts: number; metrics: Record<string, number> }> {
  const r = prng(seed);
  for (let s = 0; s < minutes * 60; s++) {
    const ts = from + s * 1000 + Math.floor(r() * 1000);
    const jitter = () => (r() - 0.5) * 0.2;
    yield { device, ts, metrics: { air_temperature_k: (base.airTemperatureK as number) + jitter(), process_temperature_k: (base.processTemperatureK as number) + jitter(), rpm: base.rotationalSpeedRpm as number } };
    yield { device, ts, metrics: { torque_nm: (base.torqueNm as number) + jitter(), tool_wear_min: (base.toolWearMin as number) + Math.floor(s / 60) } };
  }
}

/** Events of several machines interleaved by time. */
function fleet(machines: number, minutes: number, seed: number) {
  const all = Array.from({ length: machines }, (_, i) => [...machineEvents(`m${i}`, data.rows[i]!, minutes, seed + i)]).flat();
  return all.sort((a, b) => a.ts - b.ts || a.device.localeCompare(b.device));
}

const context = (device: string) => ({ type: (data.rows[Number(device.slice(1))]!.type as string) ?? 'L' });

describe('createOnlineScorer', () => {
  it('scores each machine once per closed bucket, in time order, as predict scores the bucket means', () => {
    const scorer = createOnlineScorer(artifact, { model: MODEL, context, top: 3 });
    const sums = new Map<string, Record<string, { s: number; n: number }>>();
    const expected = new Map<string, (typeof data.rows)[number]>();
    const out: OnlinePrediction[] = [];
    for (const e of fleet(4, 5, 1)) {
      const bucket = Math.floor(e.ts / 60_000);
      const key = `${e.device}/${bucket}`;
      const acc = sums.get(key) ?? {};
      for (const [k, v] of Object.entries(e.metrics)) acc[k] = { s: (acc[k]?.s ?? 0) + v, n: (acc[k]?.n ?? 0) + 1 };
      sums.set(key, acc);
      out.push(...scorer.push(e.device, e.ts, e.metrics));
    }
    for (const [key, acc] of sums) {
      const mean = (k: string) => acc[k]!.s / acc[k]!.n;
      const device = key.split('/')[0]!;
      expected.set(key, { type: context(device).type, airTemperatureK: mean('air_temperature_k'), processTemperatureK: mean('process_temperature_k'), rotationalSpeedRpm: mean('rpm'), torqueNm: mean('torque_nm'), toolWearMin: mean('tool_wear_min') });
    }
    // 5 minutes, the last bucket still open: 4 predictions per machine.
    expect(out).toHaveLength(16);
    expect(scorer.devices).toBe(4);
    expect(scorer.scored).toBe(16);
    for (const d of ['m0', 'm1', 'm2', 'm3']) expect(out.filter((p) => p.device === d).map((p) => p.ts)).toEqual([60_000, 120_000, 180_000, 240_000]);
    for (const p of out) {
      const row = expected.get(`${p.device}/${p.ts / 60_000 - 1}`)!;
      const [batch] = predict(artifact, [row], { top: 3 });
      expect(p.model).toBe(MODEL);
      expect(p.probability).toBeCloseTo(batch!.probability, 12);
      expect(p.label).toBe(batch!.label);
      expect(p.contributions.map((c) => c.feature)).toEqual(batch!.contributions.map((c) => c.feature));
      expect(p.contributions.map((c) => c.contribution)).toEqual(batch!.contributions.map((c) => expect.closeTo(c.contribution, 10)));
    }
    const last = scorer.flush();
    expect(last.map((p) => [p.device, p.ts]).sort()).toEqual([['m0', 300_000], ['m1', 300_000], ['m2', 300_000], ['m3', 300_000]]);
    expect(scorer.flush()).toEqual([]);
  });

  it('is deterministic: the same events give the same predictions', () => {
    const run = () => {
      const scorer = createOnlineScorer(artifact, { model: MODEL, context });
      return fleet(3, 4, 2).flatMap((e) => scorer.push(e.device, e.ts, e.metrics));
    };
    expect(run()).toEqual(run());
  });

  it('skips and counts rows it cannot build or that break the schema, by reason', () => {
    const scorer = createOnlineScorer(artifact, { model: MODEL, context: (d) => (d === 'bad' ? { type: 'X' } : undefined) });
    const events = [...machineEvents('quiet', data.rows[0]!, 3, 5), ...machineEvents('bad', data.rows[1]!, 3, 6)];
    for (const e of events) scorer.push(e.device, e.ts, e.metrics);
    // No tag or metadata `type` for `quiet`; `bad` has type X. Two closed buckets each.
    expect(scorer.skipped).toBe(4);
    expect(scorer.skippedBy).toEqual({ type: 2, 'type: unknown level': 2 });
    expect(scorer.scored).toBe(0);
    // A tag supplies it from the next bucket on.
    scorer.push('quiet', 3 * 60_000, { torque_nm: 40 }, { type: 'H' });
    expect(scorer.push('quiet', 4 * 60_000, { torque_nm: 40 })).toHaveLength(1);
    expect(scorer.late).toBe(0);
    scorer.push('quiet', 0, { torque_nm: 40 });
    expect(scorer.late).toBe(1);
    expect(scorer.forget('quiet')).toBe(true);
    expect(scorer.devices).toBe(1);
  });

  it('returns one shared empty array for events that close no bucket', () => {
    const scorer = createOnlineScorer(artifact, { model: MODEL, context });
    const a = scorer.push('m0', 1000, { rpm: 1500 });
    const b = scorer.push('m0', 2000, { rpm: 1501 });
    expect(a).toBe(b);
    expect(a).toHaveLength(0);
  });

  it('reports PSI per feature once enough rows are scored; a drifting metric stands out', () => {
    const scorer = createOnlineScorer(artifact, { model: MODEL, context: () => ({ type: 'M' }), top: 0, driftWindow: 400, minDriftRows: 200 });
    const r = prng(17);
    const rows = data.rows;
    let t = 0;
    const feed = (shift: number) => {
      for (let i = 0; i < 400; i++) {
        const row = rows[Math.floor(r() * rows.length)]!;
        t += 60_000;
        scorer.push('m', t, { air_temperature_k: row.airTemperatureK as number, process_temperature_k: row.processTemperatureK as number, rpm: row.rotationalSpeedRpm as number, torque_nm: row.torqueNm as number, tool_wear_min: (row.toolWearMin as number) + shift });
      }
    };
    expect(scorer.drift()).toEqual({});
    feed(0);
    const steady = scorer.drift();
    expect(Object.keys(steady)).toEqual(AI4I_SCHEMA.features.map((f) => f.name));
    expect(steady.toolWearMin).toBeLessThan(0.1);
    expect(steady.airTemperatureK).toBeLessThan(0.1);
    feed(120);
    const drifted = scorer.drift();
    expect(drifted.toolWearMin).toBeGreaterThan(0.2);
    expect(drifted.airTemperatureK).toBeLessThan(0.1);
  });

  it('serves artifacts without a spec from metrics named like the features', () => {
    const plain = trainModel(data, AI4I_SCHEMA, { kind: 'logistic', logistic: { iterations: 50 } });
    expect(plain.online).toBeUndefined();
    const scorer = createOnlineScorer(loadArtifact(JSON.stringify(plain)), { model: 'plain@1' });
    expect(scorer.spec).toEqual({ kind: 'latest', resolutionSeconds: 60, metrics: { airTemperatureK: 'airTemperatureK', processTemperatureK: 'processTemperatureK', rotationalSpeedRpm: 'rotationalSpeedRpm', torqueNm: 'torqueNm', toolWearMin: 'toolWearMin' }, categories: { type: 'type' } });
    const { type, ...metrics } = data.rows[0]!;
    scorer.push('p', 0, metrics as Record<string, number>, { type: type as string });
    const [p] = scorer.push('p', 60_000, metrics as Record<string, number>);
    expect(p!.probability).toBeCloseTo(predict(plain, [data.rows[0]!])[0]!.probability, 12);
  });
});

describe('the online spec in the artifact', () => {
  it('travels through JSON and is checked on load', () => {
    const back = loadArtifact(JSON.stringify(artifact));
    expect(back.online).toEqual(AI4I_ONLINE);
    const broken = (online: unknown) => () => loadArtifact({ ...artifact, online } as unknown as ModelArtifact);
    expect(broken({ ...AI4I_ONLINE, resolutionSeconds: -1 })).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_ARTIFACT.code }));
    expect(broken({ ...AI4I_ONLINE, resolutionSeconds: -1 })).toThrow(/online: resolutionSeconds must be a positive integer/);
    expect(broken({ kind: 'latest', resolutionSeconds: 60, metrics: { torqueNm: 'torque_nm' }, categories: { type: 'type' } })).toThrow(/online: input feature airTemperatureK is not built/);
    expect(broken({ ...AI4I_ONLINE, categories: {}, metrics: { ...AI4I_ONLINE.kind === 'latest' && AI4I_ONLINE.metrics, type: 'type' } })).toThrow(/online: input feature type is a category but the spec builds a number/);
  });

  it('is checked when a scorer is created from an artifact that skipped loadArtifact', () => {
    const online = { kind: 'latest', resolutionSeconds: 60, metrics: { torqueNm: 'torque_nm' } } as const;
    expect(() => createOnlineScorer({ ...artifact, online }, { model: MODEL })).toThrow(/invalid model artifact: online: input feature type is not built/);
  });

  it('is refused at training when it does not fit the schema', () => {
    expect(() => trainModel(data, AI4I_SCHEMA, { kind: 'gbt', gbt: { nTrees: 2 }, online: { kind: 'latest', resolutionSeconds: 60, metrics: { torqueNm: 'torque_nm' } } })).toThrow(
      expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_BAD_OPTION.code }),
    );
  });
});

describe('rolling models: warm-up, seeded maintenance, idle machines', () => {
  const HOUR = 3_600_000;
  const spec: RollingSpec = { kind: 'rolling', resolutionSeconds: 3600, metrics: ['volt', 'rotate'], windowsHours: [3, 24], stats: ['mean', 'max'], components: ['comp1', 'comp2'], errors: ['error1'], errorWindowHours: 24 };
  const schema = rollingSchema(spec, { models: ['model1', 'model2'] });
  const r = prng(11);
  const rows = Array.from({ length: 300 }, () => Object.fromEntries(rollingFeatureNames(spec).map((n) => [n, n === 'model' ? (r() < 0.5 ? 'model1' : 'model2') : 100 * r()])));
  const labelled = { rows, labels: Uint8Array.from(rows, (row) => ((row.voltMean3h as number) > 70 ? 1 : 0)), sha256: 'x', source: 'rolling.csv' };
  const rolling = trainModel(labelled, schema, { kind: 'logistic', logistic: { iterations: 20 }, online: spec });
  const T = Date.UTC(2026, 5, 1);
  const context = () => ({ age: 3, model: 'model1' });
  /** 25 h of hourly telemetry from T, as a restarted role re-reads it: no maintenance in it. */
  const warmUpRead = (scorer: ReturnType<typeof createOnlineScorer>, device: string) => {
    const out: OnlinePrediction[] = [];
    for (let h = 0; h <= 24; h++) out.push(...scorer.push(device, T + h * HOUR, { volt: 160 + h, rotate: 450 }));
    return out;
  };

  it('scores a machine after a warm-up read once its maintenance is seeded; without seeding it is skipped', () => {
    const seeded = createOnlineScorer(rolling, { model: 'pdm@1', context });
    seeded.seedMaintenance('m1', 'comp1', T - 90 * 24 * HOUR);
    seeded.seedMaintenance('m1', 'comp2', T - 30 * 24 * HOUR);
    seeded.seedMaintenance('m1', 'comp7', T); // not a component of the spec: ignored
    expect(seeded.devices).toBe(1);
    const out = warmUpRead(seeded, 'm1');
    // Buckets 0..22 lack 24 h of history (warm-up); bucket 23 ends 24 h after the first: scored.
    expect(out.map((p) => p.ts)).toEqual([T + 24 * HOUR]);
    expect(seeded.skippedBy).toEqual({ 'warm-up': 23 });

    const unseeded = createOnlineScorer(rolling, { model: 'pdm@1', context });
    expect(warmUpRead(unseeded, 'm1')).toEqual([]);
    expect(unseeded.skippedBy).toEqual({ 'warm-up': 23, hoursSinceComp1: 1 });
  });

  it('names the machines idle since a time, to forget', () => {
    const scorer = createOnlineScorer(rolling, { model: 'pdm@1', context });
    scorer.push('a', T, { volt: 1 });
    scorer.push('b', T + 10 * HOUR, { volt: 1 });
    scorer.push('b', T - HOUR, { volt: 1 }); // late: its newest event stays at T + 10 h
    scorer.seedMaintenance('c', 'comp1', T + 20 * HOUR); // seeded only: no events
    expect(scorer.devicesIdleSince(T + 5 * HOUR).sort()).toEqual(['a', 'c']);
    expect(scorer.devicesIdleSince(T).sort()).toEqual(['c']);
    for (const d of scorer.devicesIdleSince(T + 11 * HOUR)) scorer.forget(d);
    expect(scorer.devices).toBe(0);
  });

  it('ignores seeding for latest specs', () => {
    const scorer = createOnlineScorer(artifact, { model: MODEL, context });
    scorer.seedMaintenance('m0', 'comp1', 0);
    expect(scorer.devices).toBe(0);
  });
});
