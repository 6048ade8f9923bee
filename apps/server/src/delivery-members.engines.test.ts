/**
 * Delivery scaled as consumer-group members on NATS JetStream and Ceph RGW: under steady HTTP
 * load, delivery processes join, two are frozen (SIGSTOP) past their lease and woken up, one is
 * killed with SIGKILL (its partitions move once its lease runs out) and one leaves with SIGTERM.
 * Partitions change owner several times while their members are flushing; every acknowledged event must still be in the raw zone exactly once
 * (the plan's compare-and-set fences a member that lost a partition: packages/lake/README.md).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it, onTestFailed } from 'vitest';
import { stringify } from 'yaml';
import { openS3Store } from '@strata/storage/s3';
import {
  sharedEngines,
  startNats,
  startPostgres,
  startServerProcess,
  tempDir,
  type NatsServers,
  type PostgresServer,
  type ServerProcess,
} from '@strata/testkit';
import { httpBatches, printProcessLogs, rawZoneHolding, runLoad, sleep, stepper } from './load-test-support.js';
import { TELEMETRY_TOPIC } from './platform.js';

const step = stepper('delivery-members');
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

it('delivers every acknowledged event exactly once while delivery members join, crash and leave', async () => {
  onTestFailed(() => printProcessLogs(processes, /another member|reassigned|pending/));
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

  // Paced, a few hundred events/s: the proof is about ownership changes, not speed.
  const load = runLoad([0, 1].map(() => httpBatches(front.url, adminKey, { prefix: 'e', devices: 16, pauseMs: 100 })));
  const progress = (what: string): Promise<void> => load.progress(what, 1000, step);
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
    const raw = await rawZoneHolding(store, TELEMETRY_TOPIC, load.acked, step, 90_000);
    expect([...raw].filter(([, count]) => count > 1)).toEqual([]);
    expect(load.acked.size).toBeGreaterThan(5000);
    const fenced = processes.reduce((n, p) => n + p.stdout().split('another member wrote').length - 1, 0);
    step(`members fenced off a partition they had lost ${fenced} times`);
  } finally {
    await store.close();
  }
}, 300_000);
