/** Test helpers: raw objects in the Firehose layout, a lake over a temp directory, table dumps. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { hourPath } from '../delivery/layout.js';
import { Lakehouse } from './lakehouse.js';
import type { DeviceMeta, LakeOptions, LakeSettings } from './types.js';

export interface TestEvent {
  id: string;
  device: string;
  ts: string;
  metrics: Record<string, unknown>;
  tags?: Record<string, string>;
  received_at?: string;
  source?: string;
}

export function event(id: string, device: string, ts: string, metrics: Record<string, unknown>, extra: Partial<TestEvent> = {}): TestEvent {
  return { id, device, ts, metrics, received_at: ts, source: 'http', ...extra };
}

/** Puts lines (events or any text) as one raw object of `topic` of the hour of `hourOf`, named by `partition-first-last`. */
export async function putRaw(store: ObjectStore, hourOf: string, name: string, lines: Array<TestEvent | string>, zone: 'raw' | 'errors' = 'raw', topic = 'telemetry'): Promise<string> {
  const key = `${zone}/${topic}/${hourPath(Date.parse(hourOf))}/${topic}-${name}.ndjson.gz`;
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  await store.put(key, gzipSync(text));
  return key;
}

export interface TestLake {
  dir: string;
  store: ObjectStore;
  lake: Lakehouse;
  devices: DeviceMeta[];
  /** The options the lake is opened with. */
  options: LakeOptions;
  /** Closes and opens the lake again over the same files (a restart). */
  reopen(): Promise<Lakehouse>;
  close(): Promise<void>;
}

export async function openTestLake(settings: Partial<LakeSettings> = {}, now?: () => number, extra: Partial<LakeOptions> = {}): Promise<TestLake> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-lake-'));
  const store = await openLocalStore({ root: join(dir, 'lake') });
  const devices: DeviceMeta[] = [];
  const options: LakeOptions = { store, stagingDir: join(dir, 'staging'), pseudonymKey: Buffer.alloc(32, 7), devices: async () => devices, settings: { memoryLimit: '1GB', ...settings }, ...(now && { now }), ...extra };
  const open = () => Lakehouse.open(options);
  const t: TestLake = {
    dir,
    store,
    devices,
    options,
    lake: await open(),
    async reopen() {
      await t.lake.close();
      t.lake = await open();
      return t.lake;
    },
    async close() {
      await t.lake.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}
