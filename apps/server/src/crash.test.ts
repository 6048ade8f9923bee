import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLocalStore } from '@strata/storage';
import { countBy, readRawZone, startServerProcess, type ServerProcess } from '@strata/testkit';
import { seededDataDir } from '@strata/db/testing';
import { TELEMETRY_TOPIC } from './platform.js';

const running: ServerProcess[] = [];
const temps: { remove(): void }[] = [];
afterEach(() => {
  for (const s of running.splice(0)) s.child.kill('SIGKILL');
  for (const t of temps.splice(0)) t.remove();
});

/** Tiny flushes, so deliveries (plan, objects, commit) are in flight when the kill lands. */
async function start(dataDir: string): Promise<ServerProcess> {
  const server = await startServerProcess(['--data', dataDir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn', STRATA_DELIVERY__FLUSH_BYTES: '2048' });
  running.push(server);
  return server;
}

/**
 * Posts batches from 8 concurrent loops. Events carry a unique `seq` metric and no client id, so
 * exactly-once is proven by delivery itself, not by the stream's dedup window.
 */
async function loadUntilStopped(url: string, key: string, stop: { now: boolean }, acked: Set<number>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!stop.now) {
      const seqs = Array.from({ length: 50 }, () => next++);
      const body = seqs.map((seq) => ({ device: `dev-${seq % 17}`, metrics: { seq } }));
      try {
        const res = await fetch(`${url}/v1/ingest`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (res.status === 200) for (const s of seqs) acked.add(s);
      } catch {
        return; // the server died under us: those events were never acknowledged
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function rawLines(dataDir: string) {
  const store = await openLocalStore({ root: join(dataDir, 'lake') });
  try {
    return await readRawZone(store, TELEMETRY_TOPIC);
  } finally {
    await store.close();
  }
}

async function rawSeqs(dataDir: string): Promise<Map<string, number>> {
  return countBy(await rawLines(dataDir), (l) => String((l.event.metrics as { seq: number }).seq));
}

describe('crash safety of the whole server', () => {
  it('keeps every acknowledged event exactly once in the raw zone and the operational store, and acknowledged users, across kill -9', async () => {
    const tmp = await seededDataDir('crash');
    temps.push(tmp);
    const first = await start(tmp.dir);
    const adminKey = readFileSync(join(tmp.dir, 'admin.key'), 'utf8').trim();

    const startedAt = new Date(Date.now() - 60_000).toISOString();
    const userCreated = await fetch(`${first.url}/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'night-nurse', password: 'Correct-horse-42', role: 'clinician' }),
    });
    expect(userCreated.status).toBe(201);

    const acked = new Set<number>();
    const stop = { now: false };
    const load = loadUntilStopped(first.url, adminKey, stop, acked);
    while (acked.size < 5000) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    stop.now = true;
    await load;

    const second = await start(tmp.dir);
    const flushed = await fetch(`${second.url}/v1/admin/flush`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    expect(flushed.status).toBe(200);

    const counts = await rawSeqs(tmp.dir);
    const missing = [...acked].filter((s) => !counts.has(String(s)));
    const repeated = [...counts.entries()].filter(([, n]) => n > 1);
    expect(acked.size).toBeGreaterThanOrEqual(5000);
    expect(missing).toEqual([]);
    expect(repeated).toEqual([]);

    // The user acknowledged before the kill can sign in.
    const login = await fetch(`${second.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'night-nurse', password: 'Correct-horse-42' }),
    });
    expect(login.status).toBe(200);
    // The operational store counts every event of the stream exactly once, as the raw zone does.
    const perDevice = countBy(await rawLines(tmp.dir), (l) => String(l.event.device));
    const stored = async (device: string): Promise<number> => {
      const res = await fetch(`${second.url}/v1/devices/${device}/series?metric=seq&from=${startedAt}&step=1d`, { headers: { authorization: `Bearer ${adminKey}` } });
      if (res.status !== 200) return -1;
      return ((await res.json()) as { buckets: { count: number }[] }).buckets.reduce((sum, b) => sum + b.count, 0);
    };
    for (const [device, count] of perDevice) {
      let got = await stored(device);
      for (let i = 0; i < 100 && got !== count; i++) {
        await new Promise((r) => setTimeout(r, 100));
        got = await stored(device);
      }
      expect(got, device).toBe(count);
    }
  }, 180_000);

  it.each(['SIGTERM', 'SIGINT'] as const)('on %s stops accepting, flushes delivery and exits 0', async (signal) => {
    const tmp = await seededDataDir(signal.toLowerCase());
    temps.push(tmp);
    const server = await start(tmp.dir);
    const adminKey = readFileSync(join(tmp.dir, 'admin.key'), 'utf8').trim();
    const body = Array.from({ length: 100 }, (_, seq) => ({ device: 'term-1', metrics: { seq } }));
    const res = await fetch(`${server.url}/v1/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    server.child.kill(signal);
    expect(await server.exited).toBe(0);
    const counts = await rawSeqs(tmp.dir);
    expect(counts.size).toBe(100);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });
});
