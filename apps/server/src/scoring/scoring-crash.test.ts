import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PREDICTION, PREDICTIONS_TOPIC } from '@strata/core';
import { openDatabase } from '@strata/db';
import { seededDataDir } from '@strata/db/testing';
import { AI4I_ONLINE, AI4I_SCHEMA, createOnlineScorer, ModelRegistry, parseLabelledCsv, trainModel, type MlDb } from '@strata/ml';
import { ai4iCsv } from '@strata/ml/testing';
import { openLocalStore } from '@strata/storage';
import { countBy, readRawZone, startServerProcess, type ServerProcess } from '@strata/testkit';
import { TELEMETRY_TOPIC } from '../platform.js';

const running: ServerProcess[] = [];
const temps: { remove(): void }[] = [];
afterEach(() => {
  for (const s of running.splice(0)) s.child.kill('SIGKILL');
  for (const t of temps.splice(0)) t.remove();
});

const DEVICES = Array.from({ length: 8 }, (_, i) => `press-${i}`);
const HEALTHY = { air_temperature_k: 300, process_temperature_k: 310, rpm: 2000, torque_nm: 39, tool_wear_min: 50 };
const STRAINED = { air_temperature_k: 300, process_temperature_k: 310, rpm: 1250, torque_nm: 70, tool_wear_min: 200 };
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function start(dataDir: string, configFile: string): Promise<ServerProcess> {
  const server = await startServerProcess(['--data', dataDir, '--no-demo', '--config', configFile], { STRATA_LOG_LEVEL: 'warn' });
  running.push(server);
  return server;
}

async function counter(url: string, key: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: auth(key) })).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * One request at a time, each 4 steps of 10 s for every device, so each device's events enter
 * the stream in `ts` order; a device strains two minutes in seven (shifted per device).
 */
async function loadUntilStopped(url: string, key: string, base: number, stop: { now: boolean }): Promise<string | undefined> {
  for (let step = 0; !stop.now; step += 4) {
    const body = [];
    for (let k = step; k < step + 4; k++) {
      for (const [i, device] of DEVICES.entries()) {
        const minute = Math.floor(k / 6);
        body.push({ device, ts: new Date(base + k * 10_000).toISOString(), metrics: (minute + i) % 7 < 2 ? STRAINED : HEALTHY, tags: { kind: 'machine', type: 'M' } });
      }
    }
    try {
      const res = await fetch(`${url}/v1/ingest`, { method: 'POST', headers: { ...auth(key), 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 200) return `ingest answered ${res.status}: ${await res.text()}`;
    } catch (err) {
      return stop.now ? undefined : `ingest failed: ${String(err)}`;
    }
  }
  return undefined;
}

async function rawZone(dataDir: string, topic: string): Promise<Record<string, unknown>[]> {
  const store = await openLocalStore({ root: join(dataDir, 'lake') });
  try {
    return (await readRawZone(store, topic)).map((l) => l.event);
  } finally {
    await store.close();
  }
}

interface Predicted {
  id: string;
  device: string;
  ts: string;
  metrics: Record<string, number>;
}
/** What a fresh scorer says of a bucket. */
interface Scored {
  probability: number;
  label: number;
}

describe('crash safety of the scoring role', () => {
  it('no prediction is lost or published twice across kill -9', async () => {
    const tmp = await seededDataDir('scoring-crash');
    temps.push(tmp);
    // The model, registered and activated before the server starts.
    const artifact = trainModel(parseLabelledCsv(ai4iCsv(2000, 5), AI4I_SCHEMA, { source: 'generated.csv' }), AI4I_SCHEMA, { kind: 'gbt', seed: 1, online: AI4I_ONLINE, gbt: { nTrees: 40, maxDepth: 4 } });
    const db = await openDatabase({ dir: join(tmp.dir, 'db') });
    const store = await openLocalStore({ root: join(tmp.dir, 'lake') });
    const registry = new ModelRegistry({ db: db.kysely as unknown as MlDb, store });
    await registry.activate('pm', (await registry.register(artifact, { name: 'pm', createdBy: 'test' })).version);
    await Promise.all([db.close(), store.close()]);
    const configFile = join(tmp.dir, 'strata.json');
    // Short flushes: /v1/admin/flush empties the telemetry delivery only; predictions reach raw/ on their own.
    writeFileSync(configFile, JSON.stringify({ lake: { enabled: false }, ml: { refreshSeconds: 0.5 }, rules: { presets: ['predictive-maintenance'] }, delivery: { flushIntervalMs: 500 } }));

    const first = await start(tmp.dir, configFile);
    const adminKey = readFileSync(join(tmp.dir, 'admin.key'), 'utf8').trim();
    const stop = { now: false };
    let loadEnded: string | undefined;
    const load = loadUntilStopped(first.url, adminKey, Date.now() - 3 * 3600_000, stop).then((failure) => (loadEnded = failure ?? 'stopped'));
    // Killed mid-work, telemetry still pouring in, once predictions are being published.
    while ((await counter(first.url, adminKey, 'strata_ml_predictions_total')) < 150) {
      if (loadEnded !== undefined) throw new Error(`the load ended before the kill: ${loadEnded}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    stop.now = true;
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect(await load).toBe('stopped');

    const second = await start(tmp.dir, configFile);
    // What a fresh scorer makes of the telemetry the stream kept, each device's events in order.
    const expected = async (): Promise<Map<string, Scored>> => {
      const telemetry = (await rawZone(tmp.dir, TELEMETRY_TOPIC)) as { device: string; ts: string; metrics: Record<string, number>; tags: Record<string, string> }[];
      const scorer = createOnlineScorer(artifact, { model: 'pm@1' });
      const out = new Map<string, Scored>();
      for (const e of telemetry.sort((a, b) => (a.device === b.device ? Date.parse(a.ts) - Date.parse(b.ts) : a.device < b.device ? -1 : 1))) {
        for (const p of scorer.push(e.device, Date.parse(e.ts), e.metrics, e.tags)) out.set(`${p.device} ${new Date(p.ts).toISOString()}`, { probability: p.probability, label: p.label });
      }
      return out;
    };
    // The restarted role catches up in the background: flush the raw zone until it agrees, or give up.
    let want = new Map<string, Scored>();
    let got: Predicted[] = [];
    const deadline = Date.now() + 60_000;
    do {
      expect((await fetch(`${second.url}/v1/admin/flush`, { method: 'POST', headers: auth(adminKey) })).status).toBe(200);
      [want, got] = [await expected(), (await rawZone(tmp.dir, PREDICTIONS_TOPIC)) as unknown as Predicted[]];
      if (got.length >= want.size && want.size > 0) break;
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < deadline);

    expect(want.size).toBeGreaterThanOrEqual(150);
    expect([...want.values()].some((m) => m.label === 1)).toBe(true);
    // Exactly once: no id twice, no bucket twice.
    expect([...countBy(got, (p) => p.id).entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect([...countBy(got, (p) => `${p.device} ${p.ts}`).entries()].filter(([, n]) => n > 1)).toEqual([]);
    // None lost, none made up: every bucket the telemetry closes, with the same probability.
    expect(new Set(got.map((p) => `${p.device} ${p.ts}`))).toEqual(new Set(want.keys()));
    for (const p of got) {
      const w = want.get(`${p.device} ${p.ts}`)!;
      expect(p.metrics[PREDICTION.predictedMetric], `${p.device} ${p.ts}`).toBe(w.label);
      expect(p.metrics[PREDICTION.probabilityMetric]).toBeCloseTo(w.probability, 12);
    }
  }, 180_000);
});
