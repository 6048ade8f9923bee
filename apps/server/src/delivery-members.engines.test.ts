/**
 * Delivery scaled as consumer-group members on NATS JetStream and Ceph RGW: under steady HTTP
 * load, delivery processes join, two are frozen (SIGSTOP) past their lease and woken up, one is
 * killed with SIGKILL (its partitions move once its lease runs out) and one leaves with SIGTERM. Partitions change owner several times while their
 * members are flushing; every acknowledged event must still be in the raw zone exactly once
 * (the plan's compare-and-set fences a member that lost a partition: packages/lake/README.md).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it, onTestFailed } from 'vitest';
import { stringify } from 'yaml';
import { openS3Store } from '@strata/storage/s3';
import {
  countBy,
  readRawZone,
  sharedEngines,
  startNats,
  startPostgres,
  startServerProcess,
  tempDir,
  waitUntil,
  type NatsServers,
  type PostgresServer,
  type ServerProcess,
} from '@strata/testkit';
import { TELEMETRY_TOPIC } from './platform.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const began = Date.now();
/** Progress on the test's output: a failure here is read from the steps it got through. */
function step(what: string): void {
  process.stdout.write(`[delivery-members +${Math.round((Date.now() - began) / 1000)}s] ${what}\n`);
}
const processes: ServerProcess[] = [];
const temps: { remove(): void }[] = [];
let nats: NatsServers | undefined;
let postgres: PostgresServer | undefined;

afterAll(async () => {
  for (const p of processes) p.child.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
  await Promise.all([nats?.close(), postgres?.close()]);
  for (const t of temps) t.remove();
});

/** Paced HTTP batches (a few hundred events/s), each event with a unique `seq`; a failed batch is resent with the same ids. */
function startLoad(url: string, key: string) {
  const acked = new Set<number>();
  let next = 0;
  let stopped = false;
  const sender = async (): Promise<void> => {
    while (!stopped) {
      const seqs = Array.from({ length: 25 }, () => next++);
      const body = JSON.stringify(seqs.map((seq) => ({ id: `e-${seq}`, device: `d-${seq % 16}`, metrics: { seq } })));
      for (let attempt = 0; attempt < 20 && !stopped; attempt++) {
        const res = await fetch(`${url}/v1/ingest`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(10_000),
        }).catch(() => undefined);
        if (res?.status === 200) {
          for (const s of seqs) acked.add(s);
          break;
        }
        await sleep(100);
      }
      await sleep(100);
    }
  };
  const running = Promise.all([sender(), sender()]);
  return {
    acked,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

it('delivers every acknowledged event exactly once while delivery members join, crash and leave', async () => {
  onTestFailed(() => {
    // Logs go to stdout; warnings, errors and ownership changes are what tell the story.
    const telling = /"level":[45]0|another member|reassigned|pending/;
    for (const p of processes) {
      const lines = p.stdout().split('\n').filter((l) => telling.test(l));
      process.stdout.write(`--- ${p.child.spawnargs.slice(2).join(' ')}\n${lines.slice(-40).join('\n')}\n`);
    }
  });
  nats = await startNats();
  postgres = await startPostgres();
  const ceph = sharedEngines().ceph;
  const bucket = `strata-members-${process.pid}-${Date.now().toString(36)}`;
  const tmp = tempDir('delivery-members');
  temps.push(tmp);
  const configFile = join(tmp.dir, 'members.yaml');
  writeFileSync(
    configFile,
    stringify({
      db: { url: await postgres.createDatabase() },
      stream: { engine: 'nats', partitions: 6, nats: { servers: nats.servers, replicas: 1 } },
      storage: { engine: 's3', s3: { bucket, endpoint: ceph.endpoint, forcePathStyle: true, createBucket: true, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey } },
      // Small, frequent flushes: many plans in flight when partitions change owner.
      delivery: { flushBytes: 8 * 1024, flushIntervalMs: 300 },
      lake: { enabled: false },
      log: { level: 'info' },
    }),
  );
  let n = 0;
  const start = async (roles: string): Promise<ServerProcess> => {
    const p = await startServerProcess(['--config', configFile, '--data', join(tmp.dir, `p${n++}`), '--no-demo', '--roles', roles], {}, 60_000);
    processes.push(p);
    return p;
  };
  const front = await start('ingest,api');
  const adminKey = readFileSync(join(tmp.dir, 'p0', 'admin.key'), 'utf8').trim();
  const [first, second] = await Promise.all([start('delivery'), start('delivery')]);

  const load = startLoad(front.url, adminKey);
  const progress = async (what: string): Promise<void> => {
    const before = load.acked.size;
    await waitUntil(`acknowledged events after ${what}`, () => load.acked.size > before + 1000, 60_000);
    step(`${what}: ${load.acked.size} events acknowledged`);
  };
  try {
    await progress('start');
    const third = await start('delivery'); // a third member: partitions are dealt again
    await progress('a member joined');
    // Members frozen mid-work (a long GC pause, a stalled VM) for longer than the lease: their
    // partitions go to the others; woken up, they still hold buffers and half-done flushes.
    for (const frozen of [second!, third]) {
      frozen.child.kill('SIGSTOP');
      await sleep(15_000);
      frozen.child.kill('SIGCONT');
      await progress('a member woke up');
    }
    first!.child.kill('SIGKILL'); // its partitions stay leased until the lease runs out
    await sleep(12_000);
    await progress('a member was killed');
    second!.child.kill('SIGTERM'); // leaves the group cleanly
    expect(await second!.exited).toBe(0);
    step('a member stopped');
    await start('delivery');
    await progress('a member left and another joined');
  } finally {
    await load.stop();
  }

  step(`load stopped: ${load.acked.size} events acknowledged`);
  const store = await openS3Store({ bucket, endpoint: ceph.endpoint, forcePathStyle: true, credentials: ceph });
  try {
    let raw = new Map<string, number>();
    await waitUntil(
      'every acknowledged event in the raw zone',
      async () => {
        raw = countBy(await readRawZone(store, TELEMETRY_TOPIC), (l) => String((l.event.metrics as { seq: number }).seq));
        step(`raw zone: ${raw.size} events`);
        return [...load.acked].every((s) => raw.has(String(s)));
      },
      90_000,
      1000,
    );
    expect([...raw].filter(([, count]) => count > 1)).toEqual([]);
    expect(load.acked.size).toBeGreaterThan(5000);
    const fenced = processes.reduce((n, p) => n + p.stdout().split('another member wrote').length - 1, 0);
    step(`members fenced off a partition they had lost ${fenced} times`);
  } finally {
    await store.close();
  }
}, 300_000);
