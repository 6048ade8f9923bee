import { describe, expect, it } from 'vitest';
import { DEVICE_ID_PATTERN, METRIC_NAME_PATTERN } from '@strata/core';
import { generatePdmTelemetry, logEvents, PDM_BASELINES, PDM_METRICS, type PdmTelemetry } from './generate.js';
import { parsePdmLogs } from './logs.js';

const HOUR = 3_600_000;
const FROM = Date.UTC(2020, 0, 1);
const failureAt = (k: number) => Date.UTC(2020, 0, 10 + 10 * k, 6);
// Machine 1 (model1) fails on comp1..comp4, 10 days apart; machine 2 never fails.
const logs = parsePdmLogs({
  machines: '"machineID","model","age"\n1,"model1",5\n2,"model1",9\n',
  failures: `"datetime","machineID","failure"\n${['comp1', 'comp2', 'comp3', 'comp4'].map((c, k) => `${new Date(failureAt(k)).toISOString().slice(0, 19).replace('T', ' ')},1,"${c}"`).join('\n')}\n`,
  maint: '"datetime","machineID","comp"\n2019-12-01 06:00:00,1,"comp1"\n2020-01-10 06:00:00,1,"comp1"\n',
  errors: '"datetime","machineID","errorID"\n2020-01-03 07:00:00,2,"error3"\n2020-01-02 07:00:00,1,"error1"\n',
});

/** Mean of a metric of one device over [from, to). */
function meanOf(tel: PdmTelemetry, device: string, metric: string, from: number, to: number): number {
  let sum = 0, n = 0;
  for (const s of tel) if (s.device === device && s.ts >= from && s.ts < to) (sum += s.metrics[metric]!), n++;
  return sum / n;
}

describe('generated telemetry', () => {
  const tel = generatePdmTelemetry({ logs, seed: 7, from: FROM, to: Date.UTC(2020, 1, 15) });

  it('is hourly per machine, with device ids the platform accepts', () => {
    const samples = [...tel];
    expect(samples).toHaveLength(2 * 45 * 24);
    expect(tel.devices).toEqual(['machine-1', 'machine-2']);
    for (const d of tel.devices) expect(d).toMatch(DEVICE_ID_PATTERN);
    expect(samples[0]).toEqual({ device: 'machine-1', ts: FROM, metrics: { volt: expect.any(Number), rotate: expect.any(Number), pressure: expect.any(Number), vibration: expect.any(Number) } });
    expect(samples[1]!.ts - samples[0]!.ts).toBe(HOUR);
    expect(Object.keys(samples[0]!.metrics)).toEqual([...PDM_METRICS]);
  });

  it('is deterministic for the seed, per machine whatever else is generated', () => {
    const again = generatePdmTelemetry({ logs, seed: 7, from: FROM, to: Date.UTC(2020, 1, 15) });
    expect(again.values).toEqual(tel.values);
    expect(generatePdmTelemetry({ logs, seed: 8, from: FROM, to: Date.UTC(2020, 1, 15) }).values).not.toEqual(tel.values);
    const alone = generatePdmTelemetry({ logs, seed: 7, from: FROM, to: Date.UTC(2020, 1, 1), machines: [2] });
    expect([...alone]).toEqual([...tel].filter((s) => s.device === 'machine-2' && s.ts < Date.UTC(2020, 1, 1)));
  });

  it('drifts the failing component\'s metric in the 48 h before a failure, and only then', () => {
    const base = PDM_BASELINES.model1!;
    const expected = [
      ['volt', 1],
      ['rotate', -1],
      ['pressure', 1],
      ['vibration', 1],
    ] as const;
    expected.forEach(([metric, sign], k) => {
      const f = failureAt(k);
      const sd = base[metric].sd;
      // The last 12 h before the failure: drift 3 sd · (1 − lead/48) averages about 2.4 sd.
      const before = (meanOf(tel, 'machine-1', metric, f - 12 * HOUR, f) - base[metric].mean) / sd;
      expect(sign * before).toBeGreaterThan(1.6);
      // Well before (72–48 h) and after the failure: at the baseline.
      expect(Math.abs(meanOf(tel, 'machine-1', metric, f - 96 * HOUR, f - 48 * HOUR) - base[metric].mean) / sd).toBeLessThan(0.6);
      expect(Math.abs(meanOf(tel, 'machine-1', metric, f + HOUR, f + 48 * HOUR) - base[metric].mean) / sd).toBeLessThan(0.6);
      // The other metrics do not move.
      for (const [other] of expected) if (other !== metric) expect(Math.abs(meanOf(tel, 'machine-1', other, f - 12 * HOUR, f) - base[other].mean) / base[other].sd).toBeLessThan(0.8);
      // Machine 2 never fails: no drift at the same time.
      expect(Math.abs(meanOf(tel, 'machine-2', metric, f - 12 * HOUR, f) - base[metric].mean) / sd).toBeLessThan(0.8);
    });
  });

  it('refuses unknown machines and an empty range', () => {
    expect(() => generatePdmTelemetry({ logs, seed: 1, from: FROM, to: FROM + HOUR, machines: [3] })).toThrow(/machines/);
    expect(() => generatePdmTelemetry({ logs, seed: 1, from: FROM, to: FROM })).toThrow(/to/);
  });
});

describe('logs as events', () => {
  it('turns maintenance and errors into maint.<comp> / error.<id> = 1 events in time order, never failures', () => {
    const events = logEvents(logs);
    expect(events.map((e) => [e.device, new Date(e.ts).toISOString(), e.metrics])).toEqual([
      ['machine-1', '2019-12-01T06:00:00.000Z', { 'maint.comp1': 1 }],
      ['machine-1', '2020-01-02T07:00:00.000Z', { 'error.error1': 1 }],
      ['machine-2', '2020-01-03T07:00:00.000Z', { 'error.error3': 1 }],
      ['machine-1', '2020-01-10T06:00:00.000Z', { 'maint.comp1': 1 }],
    ]);
    for (const e of events) for (const m of Object.keys(e.metrics)) expect(m).toMatch(METRIC_NAME_PATTERN);
    expect(logEvents(logs, { machines: [2] })).toHaveLength(1);
    expect(logEvents(logs, { from: Date.UTC(2020, 0, 1), to: Date.UTC(2020, 0, 10) })).toHaveLength(2);
  });
});
