/**
 * Delivery and the lake jobs on the S3 engine (Ceph RGW), unchanged: one scenario runs on the
 * local engine and on S3, and what a user sees (raw objects byte for byte, every table's rows,
 * the run summaries, a SQL answer) is the same on both.
 */
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { openS3Store } from '@strata/storage/s3';
import { openEmbeddedStream } from '@strata/stream';
import { sharedEngines, tempDir } from '@strata/testkit';
import { startDelivery } from './delivery/delivery.js';
import { Lakehouse } from './lakehouse/lakehouse.js';
import { LakeQuery } from './lakehouse/query.js';
import type { DeviceMeta, LayerSummary } from './lakehouse/types.js';

const TOPIC = 'telemetry';
const DEVICES: DeviceMeta[] = [
  { id: 'm-1', kind: 'machine', site: 'lyon', model: 'PX-2', sampleIntervalSeconds: 60 },
  { id: 'p-1', kind: 'patient', site: null, model: null, sampleIntervalSeconds: null },
];
const T0 = Date.parse('2026-11-20T22:30:00Z'); // the events cross an hour and a day

function eventJson(id: string, device: string, ts: number, metrics: Record<string, number>): string {
  return JSON.stringify({ id, device, ts: new Date(ts).toISOString(), metrics, received_at: new Date(ts + 1000).toISOString(), source: 'http' });
}

/** Stream records: two devices over two days, one delivered twice, one value that is not JSON. */
function records(): Array<{ key: string; value: Buffer; ts: number }> {
  const out: Array<{ key: string; value: Buffer; ts: number }> = [];
  for (let i = 0; i < 120; i++) {
    const device = i % 3 === 0 ? 'p-1' : 'm-1';
    const ts = T0 + i * 60_000;
    const metrics: Record<string, number> = device === 'm-1' ? { rpm: 1000 + i, temperature: 60 + (i % 7) } : { heart_rate: 60 + (i % 11) };
    out.push({ key: device, ts, value: Buffer.from(eventJson(`e${i}`, device, ts, metrics)) });
  }
  out.push({ ...out[5]! });
  out.push({ key: 'm-1', ts: T0, value: Buffer.from('not json') });
  return out;
}

/** A raw object a replay or a late writer adds for a day already built. */
const LATE_KEY = 'raw/telemetry/year=2026/month=11/day=20/hour=23/telemetry-9-0-0.ndjson.gz';
const LATE_BODY = gzipSync(`${eventJson('late', 'm-1', Date.parse('2026-11-20T23:59:00Z'), { rpm: 7 })}\n`);

interface Outcome {
  raw: Map<string, Buffer>;
  delivered: { objects: number; records: number; errorRecords: number };
  runs: Array<Array<Omit<LayerSummary, 'seconds'>>>;
  tables: Record<string, unknown[]>;
  sql: unknown[];
  /** Keys under bronze/, silver/, gold/ and quarantine/ after the runs. */
  layerKeys: string[];
}

async function allObjects(store: ObjectStore, prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const o of store.list(prefix)) out.set(o.key, (await store.get(o.key))!);
  return out;
}

async function allKeys(store: ObjectStore, prefixes: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of prefixes) for await (const o of store.list(p)) out.push(o.key);
  return out;
}

/** Stream → delivery → raw zone → bronze → silver → gold (three runs) → tables and SQL, all on `store`. */
async function scenario(store: ObjectStore, dir: string): Promise<Outcome> {
  const stream = await openEmbeddedStream({ dir: join(dir, 'stream') });
  await stream.ensureTopic(TOPIC, { partitions: 2 });
  await stream.append(TOPIC, records());
  const delivery = await startDelivery({ stream, store, topic: TOPIC, flushBytes: 1 << 30, flushIntervalMs: 1 << 30, pollMs: 20 });
  const report = await delivery.flush();
  await delivery.stop();
  await stream.close();

  const stagingDir = join(dir, 'staging');
  const lake = await Lakehouse.open({ store, stagingDir, pseudonymKey: Buffer.alloc(32, 7), devices: async () => DEVICES, settings: { memoryLimit: '512MB', threads: 1, maxFilesPerPartition: 1 } });
  const query = new LakeQuery(lake, { stagingDir });
  try {
    const runs: Outcome['runs'] = [];
    const run = async () => {
      runs.push((await lake.run()).layers.map(({ seconds: _s, ...rest }) => rest));
      await lake.tables('admin'); // stages copies (on S3), which a later run may replace
    };
    await run();
    await run(); // nothing new: reads nothing, writes nothing
    await store.put(LATE_KEY, LATE_BODY);
    await run(); // bronze appends and compacts the day; silver and gold rebuild it

    const tables: Outcome['tables'] = {};
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`SET TimeZone = 'UTC'`);
    for (const { spec, paths } of await lake.tables('admin')) {
      const cols = [...spec.columns.map(([c]) => `"${c}"`), 'dt'].join(', ');
      tables[spec.view] = paths.length === 0 ? [] : (await conn.runAndReadAll(`SELECT ${cols} FROM read_parquet([${paths.map((p) => `'${p}'`).join(', ')}], hive_partitioning = true) ORDER BY ALL`)).getRowObjectsJson();
    }
    conn.closeSync();
    db.closeSync();
    const sql = await query.run(`SELECT kind, metric, sum(count) AS n, round(avg(mean), 3) AS mean FROM gold_daily GROUP BY ALL ORDER BY ALL`, { role: 'analyst' });
    return {
      raw: await allObjects(store, 'raw/'),
      delivered: { objects: report.objects, records: report.records, errorRecords: report.errorRecords },
      runs,
      tables,
      sql: sql.rows,
      layerKeys: await allKeys(store, ['bronze/', 'quarantine/', 'silver/', 'gold/']),
    };
  } finally {
    await query.close();
    await lake.close();
  }
}

describe('delivery and lake jobs on the S3 engine (Ceph RGW)', () => {
  const ceph = sharedEngines().ceph;
  const bucket = `strata-lake-${randomUUID().slice(0, 8)}`;
  const s3Options = { bucket, prefix: 'lake-test', endpoint: ceph.endpoint, forcePathStyle: true, credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey } };
  const tmp = tempDir('lake-s3');
  let local: Outcome;
  let s3: Outcome;
  let s3Dir: string;

  beforeAll(async () => {
    const localStore = await openLocalStore({ root: join(tmp.dir, 'local', 'lake') });
    try {
      local = await scenario(localStore, join(tmp.dir, 'local'));
    } finally {
      await localStore.close();
    }
    const s3Store = await openS3Store({ ...s3Options, createBucket: true });
    s3Dir = join(tmp.dir, 's3');
    try {
      expect(s3Store.localPath).toBeUndefined(); // the lake must stage copies
      s3 = await scenario(s3Store, s3Dir);
    } finally {
      await s3Store.close();
    }
  });

  afterAll(async () => {
    tmp.remove();
    const client = new S3Client({ region: 'us-east-1', endpoint: ceph.endpoint, forcePathStyle: true, credentials: s3Options.credentials });
    try {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ...(token !== undefined && { ContinuationToken: token }) }));
        await Promise.all((page.Contents ?? []).map((o) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }))));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
  });

  it('delivers the same raw objects, byte for byte, as on the local engine', () => {
    expect(s3.delivered).toEqual({ objects: local.delivered.objects, records: 121, errorRecords: 1 });
    expect([...s3.raw.keys()]).toEqual([...local.raw.keys()]);
    expect([...s3.raw.keys()].some((k) => k.includes('day=21'))).toBe(true);
    for (const [key, body] of local.raw) expect(Buffer.compare(s3.raw.get(key)!, body), key).toBe(0);
  });

  it('runs bronze, silver and gold to the same summaries and the same tables', () => {
    expect(s3.runs).toEqual(local.runs);
    expect(s3.runs[0]!.map((l) => [l.layer, l.partitions])).toEqual([
      ['bronze', ['2026-11-20', '2026-11-21']],
      ['silver', ['2026-11-20', '2026-11-21']],
      ['gold', ['2026-11-20', '2026-11-21']],
    ]);
    expect(s3.runs[0]![0]).toMatchObject({ rowsRead: 121, duplicates: 1, quarantined: 1 }); // the value delivery filed under errors/
    expect(s3.runs[1]!.map((l) => l.objectsRead)).toEqual([0, 0, 0]);
    expect(s3.runs[2]!.map((l) => [l.layer, l.partitions])).toEqual([['bronze', ['2026-11-20']], ['silver', ['2026-11-20']], ['gold', ['2026-11-20']]]);
    expect(s3.tables).toEqual(local.tables);
    expect(s3.tables.bronze!.length).toBeGreaterThan(150);
    expect(s3.tables.gold_fleet_daily!.length).toBeGreaterThan(0);
    expect(s3.sql).toEqual(local.sql);
    expect(s3.sql.length).toBeGreaterThan(0);
  });

  it('keeps the tables in the bucket under the store prefix, one compacted file per day', async () => {
    // Same layout as the local engine; Parquet names carry run ids, so compare their shape.
    const shape = (keys: string[]) => keys.map((k) => k.replace(/part-[^/]+\.parquet$/, 'part.parquet'));
    expect(shape(s3.layerKeys)).toEqual(shape(local.layerKeys));
    expect(s3.layerKeys.filter((k) => k.startsWith('bronze/'))).toHaveLength(2);
    const client = new S3Client({ region: 'us-east-1', endpoint: ceph.endpoint, forcePathStyle: true, credentials: s3Options.credentials });
    try {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'lake-test/_state/lake/' }));
      expect((page.Contents ?? []).map((o) => o.Key)).toEqual(['lake-test/_state/lake/bronze.json', 'lake-test/_state/lake/gold.json', 'lake-test/_state/lake/silver.json']);
    } finally {
      client.destroy();
    }
  });

  it('stages copies for DuckDB and keeps only those of current files', async () => {
    const dir = join(s3Dir, 'staging', 'query');
    const staged = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
    // Run 3 replaced the first day's files of every layer: their copies staged after run 2 are gone.
    expect(staged.sort()).toEqual([...s3.layerKeys].sort());
  });
});
