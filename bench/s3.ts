/**
 * bench:s3 — object store throughput: the S3 engine on Ceph RGW (and moto, an emulator, for
 * reference) against the local engine, measured in the same run so the figures share the
 * machine's load.
 *
 *   node --import tsx bench/s3.ts [--small 1000] [--concurrency 16] [--large-mib 64] [--no-moto]
 *
 * Per engine: `--small` objects of 64 KiB put then got with `--concurrency` operations in flight
 * (and 100 of them one at a time, for latency), then listed; one object of `--large-mib` MiB
 * (multipart on S3: default 16 MiB threshold, 8 MiB parts) put and got three times (median).
 * Needs `bash scripts/engines.sh start`. Writes bench/results/s3.json.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { openS3Store } from '@strata/storage/s3';
import { sharedEngines, tempDir } from '@strata/testkit';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const SMALL = Number(arg('small') ?? 1000);
const CONCURRENCY = Number(arg('concurrency') ?? 16);
const LARGE = Number(arg('large-mib') ?? 64) * 1024 * 1024;
const WITH_MOTO = !process.argv.includes('--no-moto');
const SMALL_BYTES = 64 * 1024;
const SEQUENTIAL = 100;
const here = fileURLToPath(new URL('.', import.meta.url));
const MB = 1e6;

async function pool(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) await op(next++);
  }));
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

async function measure(name: string, store: ObjectStore) {
  const bodies = Array.from({ length: 16 }, () => randomBytes(SMALL_BYTES));
  const key = (i: number) => `bench/small/${String(i).padStart(6, '0')}`;
  const putS = await timed(() => pool(SMALL, CONCURRENCY, (i) => store.put(key(i), bodies[i % 16]!)));
  const getS = await timed(() => pool(SMALL, CONCURRENCY, async (i) => {
    if ((await store.get(key(i)))?.length !== SMALL_BYTES) throw new Error(`bad get of ${key(i)}`);
  }));
  const putLat: number[] = [];
  const getLat: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) putLat.push(await timed(() => store.put(key(i), bodies[i % 16]!)));
  for (let i = 0; i < SEQUENTIAL; i++) getLat.push(await timed(() => store.get(key(i))));
  let listed = 0;
  const listS = await timed(async () => {
    for await (const _ of store.list('bench/small/')) listed++;
  });
  if (listed !== SMALL) throw new Error(`listed ${listed} of ${SMALL}`);

  const large = randomBytes(LARGE);
  const largePut: number[] = [];
  const largeGet: number[] = [];
  for (let r = 0; r < 3; r++) {
    largePut.push(await timed(() => store.put('bench/large.bin', large)));
    largeGet.push(await timed(async () => {
      if ((await store.get('bench/large.bin'))?.length !== LARGE) throw new Error('bad large get');
    }));
  }
  await pool(SMALL, CONCURRENCY, (i) => store.delete(key(i)));
  await store.delete('bench/large.bin');
  const result = {
    engine: name,
    small: {
      objects: SMALL,
      bytes: SMALL_BYTES,
      concurrency: CONCURRENCY,
      putPerSecond: round(SMALL / putS, 0),
      putMBps: round((SMALL * SMALL_BYTES) / putS / MB),
      getPerSecond: round(SMALL / getS, 0),
      getMBps: round((SMALL * SMALL_BYTES) / getS / MB),
      putLatencyMsP50: round(median(putLat) * 1000, 2),
      getLatencyMsP50: round(median(getLat) * 1000, 2),
      listPerSecond: round(SMALL / listS, 0),
    },
    large: {
      bytes: LARGE,
      putMBps: round(LARGE / median(largePut) / MB),
      getMBps: round(LARGE / median(largeGet) / MB),
    },
  };
  console.log(JSON.stringify(result));
  return result;
}

const tmp = tempDir('bench-s3');
const engines = sharedEngines();
const results = [];
try {
  const local = await openLocalStore({ root: join(tmp.dir, 'lake') });
  results.push(await measure('local', local));
  await local.close();
  for (const server of WITH_MOTO ? (['ceph', 'moto'] as const) : (['ceph'] as const)) {
    const e = engines[server];
    const bucket = `strata-bench-${randomUUID().slice(0, 8)}`;
    const credentials = { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey };
    const store = await openS3Store({ bucket, endpoint: e.endpoint, forcePathStyle: true, credentials, createBucket: true });
    try {
      results.push(await measure(`s3 (${server === 'ceph' ? 'Ceph RGW' : 'moto'})`, store));
    } finally {
      await store.close();
      const client = new S3Client({ region: 'us-east-1', endpoint: e.endpoint, forcePathStyle: true, credentials });
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      client.destroy();
    }
  }
} finally {
  tmp.remove();
}

const out = { bench: 's3', at: new Date().toISOString(), machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) }, results };
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 's3.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${join(here, 'results', 's3.json')}`);
