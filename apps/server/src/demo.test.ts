import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { DEFAULT_INGEST_LIMITS } from '@strata/core';
import { IngestService } from '@strata/ingest';
import { AI4I_ONLINE } from '@strata/ml';
import { openEmbeddedStream, type Stream } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import { startDemo } from './demo.js';

const tmp = tempDir('demo');
let stream: Stream;
beforeAll(async () => {
  stream = await openEmbeddedStream({ dir: tmp.dir });
  await stream.ensureTopic('telemetry', { partitions: 2 });
});
afterAll(async () => {
  await stream.close();
  tmp.remove();
});

/** A deterministic random source (LCG), so the test sees the same walk every run. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

describe('demo devices', () => {
  it('send machine and patient telemetry with the documented metrics, in plausible ranges', async () => {
    const ingest = new IngestService({ stream, topic: 'telemetry', limits: DEFAULT_INGEST_LIMITS });
    const demo = startDemo({ ingest, machines: 2, patients: 3, intervalMs: 20, logger: pino({ level: 'silent' }), random: seeded(7) });
    await new Promise((r) => setTimeout(r, 300));
    await demo.stop();
    const events = [];
    for (const p of [0, 1]) for (const r of await stream.read('telemetry', p, 0, { maxRecords: 10_000 })) events.push(JSON.parse(r.value.toString()));
    const devices = new Set(events.map((e) => e.device));
    expect([...devices].sort()).toEqual(['machine-001', 'machine-002', 'patient-001', 'patient-002', 'patient-003']);
    for (const e of events) {
      expect(e.source).toBe('demo');
      if (e.device.startsWith('machine-')) {
        expect(Object.keys(e.metrics).sort()).toEqual(['air_temperature_k', 'process_temperature_k', 'rpm', 'temperature', 'tool_wear_min', 'torque_nm', 'vibration']);
        expect(e.metrics.rpm).toBeGreaterThan(500);
        // What a bootstrapped AI4I model reads from a machine: every input metric, and its type as a tag.
        expect(Object.values(AI4I_ONLINE.metrics).filter((m) => !(m in e.metrics))).toEqual([]);
        expect(['L', 'M', 'H']).toContain(e.tags.type);
        expect(e.metrics.tool_wear_min).toBeGreaterThanOrEqual(0);
        expect(e.metrics.tool_wear_min).toBeLessThan(200);
      } else {
        expect(Object.keys(e.metrics).sort()).toEqual(['heart_rate', 'respiration_rate', 'spo2', 'temperature']);
        expect(e.metrics.spo2).toBeLessThanOrEqual(100);
        expect(e.metrics.temperature).toBeGreaterThan(34);
      }
    }
  });

  it('sends nothing when there are no devices (--no-demo starts none at all)', async () => {
    const before = (await stream.describe('telemetry')).partitions.map((p) => p.endOffset);
    const ingest = new IngestService({ stream, topic: 'telemetry', limits: DEFAULT_INGEST_LIMITS });
    const demo = startDemo({ ingest, machines: 0, patients: 0, intervalMs: 20, logger: pino({ level: 'silent' }) });
    await new Promise((r) => setTimeout(r, 100));
    await demo.stop();
    expect((await stream.describe('telemetry')).partitions.map((p) => p.endOffset)).toEqual(before);
  });
});
