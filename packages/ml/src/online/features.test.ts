import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mlErrors } from '../errors.js';
import { prng } from '../random.js';
import { MachineFeatures, onlineSpecIssue, rollingFeatureNames, rollingSchema, WARM_UP, type LatestSpec, type RollingSpec } from './features.js';

const H = 3_600_000;
const SPEC: RollingSpec = { kind: 'rolling', resolutionSeconds: 3600, metrics: ['volt', 'rotate'], windowsHours: [3, 24], stats: ['mean', 'std', 'min', 'max', 'slope'], components: ['comp1', 'comp2'], errors: ['error1'], errorWindowHours: 24 };
const LATEST: LatestSpec = { kind: 'latest', resolutionSeconds: 60, metrics: { torqueNm: 'torque_nm', toolWearMin: 'tool_wear_min' }, categories: { type: 'type' } };

type Ev = { ts: number; metrics: Record<string, number> };

/** A builder without the minimum history, for the checks of everything else on short streams. */
const noWarmUp = (spec: RollingSpec | LatestSpec = SPEC) => new MachineFeatures(spec, { minHistoryHours: 0 });

/** The row of bucket b straight from the definition, from every event at or before the end of b. */
function reference(spec: RollingSpec, events: readonly Ev[], b: number, context: { age: number; model: string }): Record<string, number | string> | undefined {
  const res = spec.resolutionSeconds * 1000;
  const end = (b + 1) * res;
  const upTo = events.filter((e) => Math.floor(e.ts / res) <= b);
  // Minimum history: the first bucket with telemetry starts at least the largest window before the end of b.
  const firstTelemetry = upTo.find((e) => spec.metrics.some((m) => m in e.metrics));
  const largest = Math.max(...spec.windowsHours, spec.errorWindowHours) * H;
  if (!firstTelemetry || end - Math.floor(firstTelemetry.ts / res) * res < largest) return undefined;
  const row: Record<string, number | string> = {};
  for (const m of spec.metrics) {
    for (const w of spec.windowsHours) {
      const first = b - (w * 3600) / spec.resolutionSeconds + 1;
      const points: [number, number][] = [];
      for (let k = first; k <= b; k++) {
        const vs = upTo.filter((e) => Math.floor(e.ts / res) === k && m in e.metrics).map((e) => e.metrics[m]!);
        if (vs.length > 0) points.push([(k * res) / H, vs.reduce((s, v) => s + v, 0) / vs.length]);
      }
      if (points.length === 0) return undefined;
      const ys = points.map((p) => p[1]);
      const mean = ys.reduce((s, y) => s + y, 0) / ys.length;
      const mx = points.reduce((s, p) => s + p[0], 0) / points.length;
      const sxx = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
      const sxy = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - mean), 0);
      const name = m[0]!.toLowerCase() + m.slice(1);
      row[`${name}Mean${w}h`] = mean;
      row[`${name}Std${w}h`] = Math.sqrt(ys.reduce((s, y) => s + (y - mean) ** 2, 0) / ys.length);
      row[`${name}Min${w}h`] = Math.min(...ys);
      row[`${name}Max${w}h`] = Math.max(...ys);
      row[`${name}Slope${w}h`] = sxx > 0 ? sxy / sxx : 0;
    }
  }
  for (const c of spec.components) {
    const t = upTo.filter((e) => `maint.${c}` in e.metrics).map((e) => e.ts);
    if (t.length === 0) return undefined;
    row[`hoursSince${c[0]!.toUpperCase()}${c.slice(1)}`] = (end - Math.max(...t)) / H;
  }
  const firstError = b - (spec.errorWindowHours * 3600) / spec.resolutionSeconds + 1;
  for (const e of spec.errors) row[`errors${e[0]!.toUpperCase()}${e.slice(1)}In${spec.errorWindowHours}h`] = upTo.filter((x) => `error.${e}` in x.metrics && Math.floor(x.ts / res) >= firstError).length;
  row.age = context.age;
  row.model = context.model;
  return row;
}

/** A machine's hourly-ish stream: 0–3 events per hour (gaps), metrics sometimes absent, maintenance and errors now and then. */
function stream(seed: number, hours: number): Ev[] {
  const r = prng(seed);
  const events: Ev[] = [];
  for (let h = 0; h < hours; h++) {
    const n = Math.floor(r() * 4);
    const times = Array.from({ length: n }, () => h * H + Math.floor(r() * H)).sort((a, b) => a - b);
    for (const ts of times) {
      const metrics: Record<string, number> = {};
      if (r() < 0.9) metrics.volt = 160 + 20 * r() + h * 0.1;
      if (r() < 0.7) metrics.rotate = 450 - 30 * r();
      if (r() < 0.05) metrics['maint.comp1'] = 1;
      if (r() < 0.03) metrics['maint.comp2'] = 1;
      if (r() < 0.08) metrics['error.error1'] = 1;
      events.push({ ts, metrics });
    }
  }
  return events;
}

function expectRowClose(actual: Record<string, number | string> | undefined, expected: Record<string, number | string> | undefined) {
  expect(actual === undefined).toBe(expected === undefined);
  if (!actual || !expected) return;
  expect(Object.keys(actual)).toEqual(Object.keys(expected));
  for (const [k, v] of Object.entries(expected)) {
    const a = actual[k];
    if (typeof v === 'string') expect(a, k).toBe(v);
    else expect(Math.abs((a as number) - v), k).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(v)));
  }
}

describe('rolling features', () => {
  it('match a brute-force reference at every closed bucket, gaps, maintenance and errors included', () => {
    for (const seed of [1, 2, 3]) {
      const events = stream(seed, 60);
      const f = new MachineFeatures(SPEC);
      const context = { age: 12, model: 'model3' };
      let compared = 0;
      for (const [i, e] of events.entries()) {
        if (!f.add(e.ts, e.metrics)) continue;
        const b = Math.floor(f.closedEnd! / H) - 1;
        const expected = reference(SPEC, events.slice(0, i), b, context);
        expectRowClose(f.row(context) as Record<string, number | string> | undefined, expected);
        if (expected) compared++;
      }
      expect(compared).toBeGreaterThan(20);
    }
  });

  it('names every feature in camelCase and builds a schema of them', () => {
    const names = rollingFeatureNames(SPEC);
    expect(names.slice(0, 5)).toEqual(['voltMean3h', 'voltStd3h', 'voltMin3h', 'voltMax3h', 'voltSlope3h']);
    expect(names.slice(-5)).toEqual(['hoursSinceComp1', 'hoursSinceComp2', 'errorsError1In24h', 'age', 'model']);
    expect(names).toHaveLength(2 * 2 * 5 + 2 + 1 + 2);
    const schema = rollingSchema(SPEC, { models: ['model1', 'model2', 'model3', 'model4'] });
    expect(schema.features.find((x) => x.name === 'model')).toMatchObject({ kind: 'category', levels: ['model1', 'model2', 'model3', 'model4'] });
    expect(schema.label).toEqual({ name: 'failure', column: 'failure' });
    const odd = rollingFeatureNames({ ...SPEC, metrics: ['process_temperature_k'], components: ['main-bearing'], errors: ['E.42'] });
    expect(odd).toContain('processTemperatureKMean3h');
    expect(odd).toContain('hoursSinceMainBearing');
    expect(odd).toContain('errorsE42In24h');
  });

  it('builds no row until every metric has a bucket in the smallest window, maintenance is known and age and model are', () => {
    const f = noWarmUp();
    expect(f.row()).toBeUndefined();
    expect(f.missing).toBe('a closed bucket');
    f.add(0, { volt: 1, rotate: 2 });
    f.add(H, { volt: 1 });
    expect(f.row({ age: 1, model: 'm' })).toBeUndefined();
    expect(f.missing).toBe('hoursSinceComp1');
    f.add(H + 1, { 'maint.comp1': 1, 'maint.comp2': 1 });
    f.add(2 * H, { volt: 1 });
    expect(f.row()).toBeUndefined();
    expect(f.missing).toBe('age');
    expect(f.row({ age: 1, model: 'm' })).toMatchObject({ rotateMean3h: 2, hoursSinceComp1: 1 - 1 / H });
    // rotate's last bucket (0) leaves the 3 h window when bucket 3 closes: no row, though 24 h has it.
    f.add(3 * H, { volt: 1 });
    f.add(4 * H, { volt: 1 });
    expect(f.row({ age: 1, model: 'm' })).toBeUndefined();
    expect(f.missing).toBe('rotateMean3h');
  });

  it('takes age and model from the tags, else the context; a closing event counts for the next bucket', () => {
    const f = noWarmUp({ ...SPEC, components: [] });
    f.add(0, { volt: 1, rotate: 1 }, { model: 'model1', age: '7' });
    f.add(H, { volt: 2, rotate: 2 }, { model: 'model2' });
    expect(f.row({ model: 'x', age: 3 })).toMatchObject({ model: 'model1', age: 7 });
    f.add(2 * H, { volt: 2, rotate: 2 });
    expect(f.row({ model: 'x', age: 3 })).toMatchObject({ model: 'model2', age: 7 });
    const g = noWarmUp({ ...SPEC, components: [] });
    g.add(0, { volt: 1, rotate: 1 });
    g.add(H, { volt: 1, rotate: 1 });
    expect(g.row({ model: 'model4', age: 3 })).toMatchObject({ model: 'model4', age: 3 });
  });

  it('counts errors in the error window only, and keeps late maintenance and errors but drops late telemetry', () => {
    const spec: RollingSpec = { ...SPEC, windowsHours: [3], errorWindowHours: 3 };
    const f = noWarmUp(spec);
    const ctx = { age: 1, model: 'm' };
    f.add(0, { volt: 1, rotate: 1, 'error.error1': 1, 'maint.comp1': 1, 'maint.comp2': 1 });
    f.add(10, { 'error.error1': 1 });
    f.add(H, { volt: 1, rotate: 1 });
    expect(f.row(ctx)).toMatchObject({ errorsError1In3h: 2 });
    f.add(2 * H, { volt: 1, rotate: 1 });
    f.add(3 * H, { volt: 1, rotate: 1 });
    expect(f.row(ctx)).toMatchObject({ errorsError1In3h: 2 });
    f.add(4 * H, { volt: 1, rotate: 1 });
    expect(f.row(ctx)).toMatchObject({ errorsError1In3h: 0, hoursSinceComp1: 4 });
    // Late: bucket 2 is closed. Its error counts from now on; its volt is dropped; maintenance counts from the next bucket.
    f.add(2 * H + 5, { volt: 1000, 'error.error1': 1, 'maint.comp1': 1 });
    expect(f.late).toBe(1);
    f.add(5 * H, { volt: 1, rotate: 1 });
    expect(f.row(ctx)).toMatchObject({ errorsError1In3h: 1, voltMax3h: 1, hoursSinceComp1: 3 - 5 / H });
  });

  it('keeps a bounded ring: after weeks of data a row equals that of a builder fed only the last day', () => {
    const events = stream(9, 24 * 30).filter((e) => !Object.keys(e.metrics).some((k) => k.startsWith('maint.')));
    const full = new MachineFeatures(SPEC);
    const tail = new MachineFeatures(SPEC);
    const maint = { 'maint.comp1': 1, 'maint.comp2': 1 };
    full.add(0, maint);
    const lastBucket = Math.floor(events[events.length - 1]!.ts / H);
    const cut = events.findIndex((e) => e.ts >= (lastBucket - 24) * H);
    tail.add(0, maint);
    for (const e of events) full.add(e.ts, e.metrics);
    for (const e of events.slice(cut)) tail.add(e.ts, e.metrics);
    full.flush();
    tail.flush();
    expect(full.bucketsKept).toBe(24);
    expect(full.row({ age: 1, model: 'm' })).toEqual(tail.row({ age: 1, model: 'm' }));
  });

  it('builds no row before the machine has the largest window of history (warm-up), as training drops them', () => {
    const f = new MachineFeatures(SPEC);
    expect(f.minHistoryHours).toBe(24);
    const ctx = { age: 1, model: 'm' };
    f.add(0, { 'maint.comp1': 1, 'maint.comp2': 1 });
    const reasons: (string | undefined)[] = [];
    for (let h = 0; h <= 30; h++) {
      if (!f.add(h * H + 1, { volt: h, rotate: 1 })) continue;
      const row = f.row(ctx);
      reasons.push(row ? 'row' : f.missing);
    }
    // Buckets 0..22 close with less than 24 h behind their end; bucket 23 (ends at 24 h) is the first row.
    expect(reasons.slice(0, 23)).toEqual(Array(23).fill(WARM_UP));
    expect(reasons.slice(23)).toEqual(Array(7).fill('row'));
    // The window is whole: its min is bucket 0's value.
    const g = new MachineFeatures(SPEC);
    g.add(0, { 'maint.comp1': 1, 'maint.comp2': 1 });
    for (let h = 0; h <= 24; h++) g.add(h * H, { volt: h, rotate: 1 });
    expect(g.row(ctx)).toMatchObject({ voltMin24h: 0, voltMax24h: 23 });
    // Maintenance and errors alone are no history: the clock starts at the first telemetry.
    const late = new MachineFeatures(SPEC);
    late.add(0, { 'maint.comp1': 1, 'maint.comp2': 1, 'error.error1': 1 });
    for (let h = 10; h <= 33; h++) late.add(h * H, { volt: h, rotate: 1 });
    expect(late.row(ctx)).toBeUndefined(); // bucket 32: 23 h since bucket 10's start
    expect(late.missing).toBe(WARM_UP);
    late.add(34 * H, { volt: 1, rotate: 1 });
    expect(late.row(ctx)).toBeDefined();
    // An option; latest specs need none by default.
    const short = new MachineFeatures(SPEC, { minHistoryHours: 2 });
    short.add(0, { volt: 1, rotate: 1, 'maint.comp1': 1, 'maint.comp2': 1 });
    short.add(H, { volt: 1, rotate: 1 });
    expect(short.row(ctx)).toBeUndefined();
    short.add(2 * H, { volt: 1, rotate: 1 });
    expect(short.row(ctx)).toBeDefined();
    expect(new MachineFeatures(LATEST).minHistoryHours).toBe(0);
    expect(() => new MachineFeatures(SPEC, { minHistoryHours: -1 })).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_BAD_OPTION.code }));
  });

  it('takes seeded maintenance times: forward only, never changing a closed bucket\'s row', () => {
    const f = new MachineFeatures(SPEC);
    const ctx = { age: 1, model: 'm' };
    const T = 1_000 * H;
    for (let h = 0; h <= 24; h++) f.add(T + h * H, { volt: h, rotate: 1 });
    expect(f.row(ctx)).toBeUndefined();
    expect(f.missing).toBe('hoursSinceComp1');
    f.seedMaintenance('comp1', T - 100 * H);
    f.seedMaintenance('comp2', T - 50 * H);
    f.seedMaintenance('comp2', T - 70 * H); // older: ignored
    f.seedMaintenance('comp9', T); // not in the spec: ignored
    expect(f.row(ctx)).toMatchObject({ hoursSinceComp1: 124, hoursSinceComp2: 74 });
    // A seed after the last closed bucket counts from the next close, like a maintenance event.
    f.seedMaintenance('comp1', T + 24 * H + 5);
    expect(f.row(ctx)).toMatchObject({ hoursSinceComp1: 124 });
    f.add(T + 25 * H, { volt: 1, rotate: 1 });
    expect(f.row(ctx)).toMatchObject({ hoursSinceComp1: 1 - 5 / H, hoursSinceComp2: 75 });
    // A newer fed event wins over an older seed.
    f.seedMaintenance('comp1', T);
    f.add(T + 26 * H, { volt: 1, rotate: 1 });
    expect(f.row(ctx)).toMatchObject({ hoursSinceComp1: 2 - 5 / H });
    expect(f.lastEventTs).toBe(T + 26 * H);
    const latest = new MachineFeatures(LATEST);
    latest.seedMaintenance('comp1', 0);
    expect(latest.lastEventTs).toBeUndefined();
  });

  it('counts unusable values instead of throwing', () => {
    const f = new MachineFeatures(SPEC);
    f.add(Number.NaN, { volt: 1 });
    f.add(0, { volt: Number.POSITIVE_INFINITY, other: 3 });
    f.addBucket(0, 'volt', 1, 0);
    expect(f.rejected).toBe(3);
  });
});

describe('bucket resampling', () => {
  // Dyadic values (k/4) sum exactly in any order, so rows must be identical, not merely close.
  const sample = fc.record({ bucket: fc.integer({ min: 0, max: 5 }), offset: fc.integer({ min: 0, max: 3_599_999 }), metric: fc.constantFrom('volt', 'rotate'), value: fc.integer({ min: -4000, max: 4000 }).map((k) => k / 4) });

  it('any order within a bucket and any split of metrics over events give the same row', () => {
    fc.assert(
      fc.property(fc.array(sample, { minLength: 1, maxLength: 60 }), fc.infiniteStream(fc.boolean()), fc.integer(), (samples, splits, seed) => {
        const spec: RollingSpec = { ...SPEC, components: [], errors: [] };
        const build = (events: Ev[]) => {
          const f = noWarmUp(spec);
          for (const e of events) f.add(e.ts, e.metrics);
          f.flush();
          return f.row({ age: 1, model: 'm' });
        };
        const byBucket = [...samples].sort((a, b) => a.bucket - b.bucket);
        // One event per sample, in bucket order.
        const one = byBucket.map((s) => ({ ts: s.bucket * H + s.offset, metrics: { [s.metric]: s.value } }));
        // Shuffled within each bucket, consecutive samples of different metrics merged into one event at random.
        const r = prng(seed);
        const shuffled: Ev[] = [];
        for (let b = 0; b <= 5; b++) {
          const inBucket = byBucket.filter((s) => s.bucket === b).sort(() => r() - 0.5);
          const it = splits[Symbol.iterator]();
          for (const s of inBucket) {
            const prev = shuffled[shuffled.length - 1];
            if (prev && Math.floor(prev.ts / H) === b && !(s.metric in prev.metrics) && it.next().value) prev.metrics[s.metric] = s.value;
            else shuffled.push({ ts: b * H + s.offset, metrics: { [s.metric]: s.value } });
          }
        }
        expect(build(shuffled)).toEqual(build(one));
      }),
      { numRuns: 200, seed: 20261122 },
    );
  });

  it('one-minute rollups in any order give the row of the raw events', () => {
    const spec: RollingSpec = { ...SPEC, resolutionSeconds: 600, windowsHours: [1], errorWindowHours: 1, components: [] };
    const r = prng(5);
    const raw = new MachineFeatures(spec);
    const rolled = new MachineFeatures(spec);
    const minutes = new Map<number, { sum: number; n: number; errors: number }>();
    for (let s = 0; s < 3 * 3600; s += 1 + Math.floor(r() * 20)) {
      const v = Math.round(r() * 400) / 4;
      raw.add(s * 1000, s % 7 === 0 ? { volt: v, rotate: 1, 'error.error1': 1 } : { volt: v, rotate: 1 });
      const m = Math.floor(s / 60) * 60_000;
      const acc = minutes.get(m) ?? { sum: 0, n: 0, errors: 0 };
      minutes.set(m, { sum: acc.sum + v, n: acc.n + 1, errors: acc.errors + (s % 7 === 0 ? 1 : 0) });
    }
    // The rollups of each 10-minute bucket arrive in reverse order, metric by metric.
    const keys = [...minutes.keys()];
    for (let i = 0; i < keys.length; i += 10) {
      const group = keys.filter((m) => Math.floor(m / 600_000) === Math.floor(keys[i]! / 600_000)).reverse();
      for (const m of group) rolled.addBucket(m, 'volt', minutes.get(m)!.sum / minutes.get(m)!.n, minutes.get(m)!.n);
      for (const m of group) rolled.addBucket(m, 'rotate', 1, minutes.get(m)!.n);
      for (const m of group) if (minutes.get(m)!.errors > 0) rolled.addBucket(m, 'error.error1', 1, minutes.get(m)!.errors);
    }
    raw.flush();
    rolled.flush();
    expect(rolled.late).toBe(0);
    expectRowClose(rolled.row({ age: 1, model: 'm' }) as Record<string, number>, raw.row({ age: 1, model: 'm' }) as Record<string, number>);
    expect(() => new MachineFeatures({ ...spec, resolutionSeconds: 90 }).addBucket(0, 'volt', 1, 1)).toThrow(/multiple of 60/);
  });
});

describe('latest features', () => {
  it('is the newest bucket mean per metric, carried forward, with categories from tags or context', () => {
    const f = new MachineFeatures(LATEST);
    expect(f.add(1_000, { torque_nm: 40, other: 1 })).toBe(false);
    f.add(2_000, { torque_nm: 42 });
    expect(f.add(61_000, { tool_wear_min: 7 }, { type: 'L' })).toBe(true);
    expect(f.row()).toBeUndefined();
    expect(f.missing).toBe('toolWearMin');
    f.add(120_000, { torque_nm: 50 });
    expect(f.row()).toEqual({ torqueNm: 41, toolWearMin: 7, type: 'L' });
    expect(f.closedEnd).toBe(120_000);
    f.add(180_000, { torque_nm: 1 });
    expect(f.row({ type: 'H' })).toEqual({ torqueNm: 50, toolWearMin: 7, type: 'L' });
    const g = new MachineFeatures(LATEST);
    g.add(0, { torque_nm: 1, tool_wear_min: 2 });
    g.flush();
    expect(g.row()).toBeUndefined();
    expect(g.missing).toBe('type');
    expect(g.row({ type: 'M' })).toEqual({ torqueNm: 1, toolWearMin: 2, type: 'M' });
    expect(g.bucketsKept).toBe(0);
  });
});

describe('spec checks', () => {
  it.each([
    [{ ...SPEC, resolutionSeconds: 0 }, /resolutionSeconds/],
    [{ ...SPEC, windowsHours: [3, 3] }, /windowsHours/],
    [{ ...SPEC, resolutionSeconds: 7 * 60 }, /whole number/],
    [{ ...SPEC, stats: ['median'] }, /stats/],
    [{ ...SPEC, metrics: ['maint.x'] }, /event/],
    [{ ...SPEC, metrics: ['a_b', 'aB'] }, /built twice/],
    [{ ...SPEC, resolutionSeconds: 1, windowsHours: [24] }, /buckets/],
    [{ ...LATEST, metrics: {} }, /empty/],
    [{ ...LATEST, metrics: { Torque: 'torque' } }, /must match/],
    [{ kind: 'other', resolutionSeconds: 60 }, /kind/],
  ])('refuses %j', (spec, reason) => {
    expect(onlineSpecIssue(spec)).toMatch(reason);
    expect(() => new MachineFeatures(spec as RollingSpec)).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_SCHEMA.code }));
  });

  it('accepts the specs above', () => {
    expect(onlineSpecIssue(SPEC)).toBeUndefined();
    expect(onlineSpecIssue(LATEST)).toBeUndefined();
  });
});
