/**
 * The platform split into processes on real distributed engines: a 3-node NATS JetStream cluster
 * (R3), Ceph RGW (behind a proxy the test can cut) and PostgreSQL 15. Processes: an ingest
 * supervisor with 2 ingest processes sharing the HTTP and MQTT ports, one with delivery + state
 * + rules, one with the API. Under steady HTTP and MQTT load, in turn: an ingest process is
 * killed with SIGKILL, the leader of a telemetry partition's stream is killed, PostgreSQL stops
 * for 30 s, S3 is unreachable for 30 s. Then every acknowledged event must be in the raw zone
 * exactly once, and the store must have counted each event in the raw zone exactly once.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it, onTestFailed } from 'vitest';
import mqtt from 'mqtt';
import pg from 'pg';
import { stringify } from 'yaml';
import { openS3Store } from '@strata/storage/s3';
import {
  sharedEngines,
  startNats,
  startPostgres,
  startServerProcess,
  startTcpProxy,
  tempDir,
  waitUntil as until,
  type NatsServers,
  type PostgresServer,
  type ServerProcess,
  type TcpProxy,
} from '@strata/testkit';
import { httpBatches, printProcessLogs, rawZoneHolding, runLoad, sleep, stepper, type LoadContext } from './load-test-support.js';
import { TELEMETRY_TOPIC } from './platform.js';

const ENVIRONMENT = 'e2e';
const step = stepper('scale-out');
const processes: ServerProcess[] = [];
const temps: { remove(): void }[] = [];
let nats: NatsServers | undefined;
let postgres: PostgresServer | undefined;
let proxy: TcpProxy | undefined;

afterAll(async () => {
  for (const p of processes) p.child.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
  await Promise.all([nats?.close(), postgres?.close(), proxy?.close()]);
  for (const t of temps) t.remove();
});

/** Child PIDs of a process (the ingest supervisor's ingest processes). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

/** A device publishing QoS 1 messages, each resent with the same id until acknowledged (the stream's dedup makes it once). */
function mqttDevice(mqttUrl: string, id: string, key: string) {
  return async (ctx: LoadContext): Promise<void> => {
    const client = mqtt.connect(mqttUrl, { username: id, password: key, clientId: `${id}-load`, reconnectPeriod: 200, connectTimeout: 5000 });
    client.on('error', () => undefined);
    try {
      while (!ctx.stopped()) {
        const seq = ctx.next();
        const payload = JSON.stringify({ id: `mqtt-${seq}`, device: id, metrics: { seq } });
        while (!ctx.stopped()) {
          const ok = await Promise.race([
            client.publishAsync(`devices/${id}/telemetry`, payload, { qos: 1 }).then(() => true, () => false),
            sleep(5000).then(() => false),
          ]);
          if (ok) {
            ctx.acked.add(seq);
            break;
          }
          await sleep(100);
        }
        await sleep(10);
      }
    } finally {
      await Promise.race([client.endAsync(true), sleep(2000)]);
    }
  };
}

it('runs split into processes on NATS, Ceph RGW and PostgreSQL, and loses or doubles nothing through their faults', async () => {
  // What each process logged (warnings and errors): the first place to look when this fails.
  onTestFailed(() => printProcessLogs(processes, /another member|reassigned|redoing|expired|lease/));
  nats = await startNats({ cluster: 3 });
  postgres = await startPostgres();
  const ceph = sharedEngines().ceph;
  proxy = await startTcpProxy({ port: Number(new URL(ceph.endpoint).port) });
  const bucket = `strata-e2e-${process.pid}-${Date.now().toString(36)}`;
  const tmp = tempDir('scale-out');
  temps.push(tmp);
  const configFile = join(tmp.dir, 'e2e.yaml');
  const dbUrl = await postgres.createDatabase();
  writeFileSync(
    configFile,
    stringify({
      environment: ENVIRONMENT,
      db: { url: dbUrl },
      stream: { engine: 'nats', partitions: 4, nats: { servers: nats.servers, replicas: 3 } },
      storage: {
        engine: 's3',
        s3: { bucket, endpoint: `http://127.0.0.1:${proxy.port}`, forcePathStyle: true, createBucket: true, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
      },
      delivery: { flushBytes: 16 * 1024, flushIntervalMs: 500 },
      lake: { enabled: false },
      log: { level: 'warn' },
    }),
  );
  const start = async (name: string, args: string[]): Promise<ServerProcess> => {
    const p = await startServerProcess(['--config', configFile, '--data', join(tmp.dir, name), '--no-demo', ...args], {}, 60_000);
    processes.push(p);
    return p;
  };
  step('engines up');
  const api = await start('api', ['--roles', 'api']);
  const adminKey = readFileSync(join(tmp.dir, 'api', 'admin.key'), 'utf8').trim();
  const [workers, ingest] = await Promise.all([start('workers', ['--roles', 'delivery,state,rules']), start('ingest', ['--roles', 'ingest', '--processes', '2'])]);
  expect(ingest.mqttUrl).toBeDefined();
  step('processes up');
  await until('2 ingest processes', () => childPids(ingest.child.pid!).length === 2, 30_000);

  const deviceKeys = new Map<string, string>();
  for (const id of ['mq-0', 'mq-1', 'mq-2', 'mq-3']) {
    const res = await fetch(`${api.url}/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes: ['ingest'], device: id }),
    });
    expect(res.status).toBe(201);
    deviceKeys.set(id, ((await res.json()) as { key: string }).key);
  }
  await sleep(1500); // the ingest processes reload keys every second

  // Paced (about 1 000 events/s over HTTP, a few hundred over MQTT): the proof is about faults, not speed.
  const load = runLoad([
    ...[0, 1].map(() => httpBatches(ingest.url, adminKey, { prefix: 'http', devices: 5, pauseMs: 50 })),
    ...[...deviceKeys].map(([id, key]) => mqttDevice(ingest.mqttUrl!, id, key)),
  ]);
  const progress = (what: string): Promise<void> => load.progress(what, 200, step);
  try {
    await progress('start');

    // 1. An ingest process killed under load: the supervisor starts another, the other one serves meanwhile.
    const [victim] = childPids(ingest.child.pid!);
    process.kill(victim!, 'SIGKILL');
    await until('a replacement ingest process', () => childPids(ingest.child.pid!).filter((p) => p !== victim).length === 2, 30_000);
    await progress('the ingest kill');

    // 2. The leader of telemetry partition 0's stream killed; the R3 stream elects another.
    const leader = await nats.streamLeader(`strata_${ENVIRONMENT}_${TELEMETRY_TOPIC}-0`);
    expect(leader).toBeDefined();
    await nats.kill(leader!);
    await progress('the leader kill');
    await nats.start(leader!);

    // 3. PostgreSQL down for 30 s: ingest goes on (keys are cached), state and rules wait and catch up.
    await postgres.stop();
    await sleep(30_000);
    await postgres.start();
    await progress('PostgreSQL came back');

    // 4. S3 unreachable for 30 s: delivery retries, /ready says so, ingest goes on.
    proxy.cut();
    const cutAt = Date.now();
    await until('workers not ready for storage', async () => {
      const ready = await fetch(`${workers.url}/ready`);
      return ready.status === 503 && JSON.stringify(await ready.json()).includes('storage not writable');
    }, 20_000);
    // Ingest does not need S3: it stays ready.
    expect((await fetch(`${ingest.url}/ready`)).status).toBe(200);
    await sleep(30_000 - (Date.now() - cutAt));
    proxy.restore();
    await progress('S3 came back');
    await until('workers ready', async () => (await fetch(`${workers.url}/ready`)).status === 200, 30_000);
    step('workers ready again');
  } finally {
    await load.stop();
  }

  step(`load stopped: ${load.acked.size} events acknowledged`);
  // Everything acknowledged reaches the raw zone, once; the store counts what the raw zone holds.
  const store = await openS3Store({ bucket: `${bucket}-${ENVIRONMENT}`, endpoint: ceph.endpoint, forcePathStyle: true, credentials: ceph });
  try {
    const raw = await rawZoneHolding(store, TELEMETRY_TOPIC, load.acked, step, 120_000);
    const doubled = [...raw].filter(([, n]) => n > 1);
    expect(doubled).toEqual([]);
    expect(load.acked.size).toBeGreaterThan(1000);

    const state = new pg.Client({ connectionString: dbUrl });
    await state.connect();
    try {
      const expected = [...raw.keys()].reduce((sum, s) => sum + Number(s), 0);
      await until('the store to count every event in the raw zone', async () => {
        const { rows } = await state.query<{ n: string | null; s: number | null }>(`SELECT sum(count) AS n, sum(sum) AS s FROM rollups_1m WHERE metric = 'seq'`);
        return Number(rows[0]!.n) === raw.size && rows[0]!.s === expected;
      }, 60_000);
    } finally {
      await state.end();
    }
  } finally {
    await store.close();
  }
}, 400_000);
