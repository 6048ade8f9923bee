import { describe, expect, it } from 'vitest';
import { assertRows } from '../features/encode.js';
import { buildPdmDataset, PDM_SCHEMA, PDM_SPEC } from './dataset.js';
import { MachineFeatures } from '../online/features.js';
import { logEvents, type TelemetrySample } from './generate.js';
import { parsePdmLogs, type PdmLogFile } from './logs.js';

const HOUR = 3_600_000;
const FROM = Date.UTC(2020, 0, 1);
const F = Date.UTC(2020, 0, 5, 6); // machine 1's comp2 failure
const iso = (ts: number) => new Date(ts).toISOString();

const files: Record<PdmLogFile, string> = {
  machines: '"machineID","model","age"\n1,"model2",4\n2,"model4",11\n',
  failures: '"datetime","machineID","failure"\n2020-01-05 06:00:00,1,"comp2"\n',
  maint: `"datetime","machineID","comp"\n${[1, 2].flatMap((m) => ['comp1', 'comp2', 'comp3', 'comp4'].map((c) => `2019-12-01 06:00:00,${m},"${c}"`)).join('\n')}\n2020-01-05 06:00:00,1,"comp2"\n`,
  errors: '"datetime","machineID","errorID"\n2020-01-03 10:30:00,1,"error1"\n',
};
const logs = parsePdmLogs(files);

/** Hourly telemetry from FROM for `hours` hours; volt = hours since FROM, so windows are easy to check. */
function telemetry(hours: number, devices = ['machine-1'], edit?: (s: TelemetrySample) => TelemetrySample): TelemetrySample[] {
  const out: TelemetrySample[] = [];
  for (let h = 0; h < hours; h++) {
    for (const device of devices) {
      const s = { device, ts: FROM + h * HOUR, metrics: { volt: h, rotate: 450, pressure: 100, vibration: 40 } };
      out.push(edit ? edit(s) : s);
    }
  }
  return out;
}

describe('the PdM data set', () => {
  const data = buildPdmDataset({ telemetry: telemetry(7 * 24), logs });
  const at = (t: number) => data.rows[data.times.indexOf(t)]!;

  it('has one row per closed hour after the 24 h warm-up, while the 24 h label window is observed', () => {
    expect(iso(data.times[0]!)).toBe('2020-01-02T00:00:00.000Z');
    expect(iso(data.times.at(-1)!)).toBe('2020-01-07T00:00:00.000Z');
    expect(data.rows).toHaveLength(5 * 24 + 1);
    expect(new Set(data.devices)).toEqual(new Set(['machine-1']));
    expect(() => assertRows(PDM_SCHEMA, data.rows)).not.toThrow();
    // The rows closing at 01:00 … 23:00 on day one lack 24 h of history: the builder's warm-up.
    expect(data.report).toMatchObject({ samples: 7 * 24, unknownDevices: 0, skipped: { 'warm-up': 23 }, late: 0 });
    expect(data.labelHorizonMs).toBe(24 * HOUR);
  });

  it('has a row exactly where a serving builder (the scorer\'s, with its defaults) builds one: no partial windows', () => {
    const served: number[] = [];
    const fx = new MachineFeatures(PDM_SPEC);
    const events = logEvents(logs).filter((e) => e.device === 'machine-1');
    let next = 0;
    for (const s of telemetry(7 * 24)) {
      const closed = (c: boolean) => c && fx.row({ age: 4, model: 'model2' }) !== undefined && served.push(fx.closedEnd!);
      while (next < events.length && events[next]!.ts <= s.ts) closed(fx.add(events[next]!.ts, events[next++]!.metrics));
      closed(fx.add(s.ts, s.metrics));
    }
    // Training drops the last 24 h (their label window is not observed); otherwise the same times and rows.
    expect(served.slice(0, data.times.length)).toEqual(data.times);
    expect(served[0]).toBe(FROM + 24 * HOUR);
  });

  it('labels a row 1 exactly when the machine fails in (t, t + 24 h]', () => {
    const positives = data.times.filter((_, i) => data.labels[i] === 1);
    expect(positives).toHaveLength(24);
    expect(iso(positives[0]!)).toBe(iso(F - 24 * HOUR));
    expect(iso(positives.at(-1)!)).toBe(iso(F - HOUR));
    expect(data.labels[data.times.indexOf(F)]).toBe(0);
  });

  it('builds the row at t from data before t only: windows, hours since maintenance, error counts, age and model', () => {
    const t = Date.UTC(2020, 0, 3, 11);
    const h = (t - FROM) / HOUR; // buckets h−3..h−1 are the last 3 closed ones
    expect(at(t).voltMean3h).toBeCloseTo(h - 2, 9);
    expect(at(t).voltMax3h).toBe(h - 1);
    expect(at(t).voltMin24h).toBe(h - 24);
    expect(at(t).voltSlope24h).toBeCloseTo(1, 9);
    expect(at(t)).toMatchObject({ age: 4, model: 'model2', errorsError1In24h: 1, hoursSinceComp1: (t - Date.UTC(2019, 11, 1, 6)) / HOUR });
    expect(at(t - HOUR).errorsError1In24h).toBe(0); // the 10:30 error is in the bucket that closes at 11:00
    expect(at(t + 23 * HOUR).errorsError1In24h).toBe(1);
    expect(at(t + 24 * HOUR).errorsError1In24h).toBe(0);
    // The maintenance logged with the failure at F counts from the bucket after F on.
    expect(at(F).hoursSinceComp2).toBe((F - Date.UTC(2019, 11, 1, 6)) / HOUR);
    expect(at(F + HOUR).hoursSinceComp2).toBe(1);
  });

  it('never reads the failures log for features: rows stay the same without it, only labels change', () => {
    const none = buildPdmDataset({ telemetry: telemetry(7 * 24), logs: parsePdmLogs({ ...files, failures: '"datetime","machineID","failure"\n' }) });
    expect(none.rows).toEqual(data.rows);
    expect(none.labels.every((y) => y === 0)).toBe(true);
  });

  it('does not look ahead: changing telemetry and logs after T leaves every row at t <= T as it was', () => {
    const T = Date.UTC(2020, 0, 4, 12);
    const later = buildPdmDataset({
      telemetry: telemetry(7 * 24, ['machine-1'], (s) => (s.ts >= T ? { ...s, metrics: { volt: 1e6, rotate: -1, pressure: 7, vibration: 99 } } : s)),
      logs: parsePdmLogs({ ...files, maint: `${files.maint}2020-01-04 12:00:00,1,"comp1"\n`, errors: `${files.errors}2020-01-04 12:00:00,1,"error5"\n` }),
    });
    const upTo = data.times.filter((t) => t <= T).length;
    expect(later.rows.slice(0, upTo)).toEqual(data.rows.slice(0, upTo));
    expect(later.rows[upTo]).not.toEqual(data.rows[upTo]);
  });

  it('keeps rows every N hours, in time order then device, for machines fed interleaved', () => {
    const two = buildPdmDataset({ telemetry: telemetry(7 * 24, ['machine-1', 'machine-2']), logs, sampleEveryHours: 6 });
    expect(two.times.every((t) => t % (6 * HOUR) === 0)).toBe(true);
    for (let i = 1; i < two.times.length; i++) expect(two.times[i]! > two.times[i - 1]! || (two.times[i] === two.times[i - 1] && two.devices[i]! > two.devices[i - 1]!)).toBe(true);
    expect(two.rows.filter((_, i) => two.devices[i] === 'machine-1')).toEqual(data.rows.filter((_, i) => data.times[i]! % (6 * HOUR) === 0));
    expect(two.rows.find((_, i) => two.devices[i] === 'machine-2')).toMatchObject({ model: 'model4', age: 11 });
  });

  it('counts telemetry of unknown machines, refuses telemetry that goes back in time', () => {
    const extra = buildPdmDataset({ telemetry: telemetry(3 * 24, ['machine-1', 'machine-9']), logs });
    expect(extra.report.unknownDevices).toBe(3 * 24);
    const backwards = telemetry(3 * 24).reverse();
    expect(() => buildPdmDataset({ telemetry: backwards, logs })).toThrow(/goes back in time/);
  });

  it('uses the Azure PdM spec: 3 h and 24 h windows of volt, rotate, pressure, vibration; 51 features', () => {
    expect(PDM_SPEC).toMatchObject({ kind: 'rolling', resolutionSeconds: 3600, windowsHours: [3, 24], errorWindowHours: 24 });
    expect(PDM_SCHEMA.features).toHaveLength(51);
    expect(Object.keys(data.rows[0]!)).toEqual(PDM_SCHEMA.features.map((f) => f.name));
  });
});
