import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StrataError } from '@strata/core';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { openDuck } from './duck.js';
import { Lakehouse } from './lakehouse.js';
import { loadManifest, saveManifest } from './manifest.js';
import { LakeQuery, type QueryableLake } from './query.js';
import { tableSpec } from './tables.js';
import type { LakeLayer } from './types.js';

let dir: string;
let store: ObjectStore;
let lake: Lakehouse;
let q: LakeQuery;
let secretFile: string;
let bronzeFile: string;
let silverFile: string;
let fileSeq = 0;

const SECRET = 'TOP-SECRET-CONTENT';

/** Writes the rows of `select` (the table's columns, no dt) as one Parquet file of `day`, and lists it in the layer's manifest. */
async function putPartition(layer: LakeLayer, name: string, day: string, select: string, replace = false): Promise<string> {
  const spec = tableSpec(layer, name);
  const key = `${spec.prefix}/dt=${day}/part-t${++fileSeq}.parquet`;
  const scratch = join(dir, `scratch-${fileSeq}.parquet`);
  const { instance, conn } = await openDuck({ threads: 1, memoryLimit: '256MB', tempDir: join(dir, 'scratch-spill') });
  try {
    const cols = spec.columns.map(([c, t]) => `"${c}"::${t} AS "${c}"`).join(', ');
    await conn.run(`COPY (SELECT ${cols} FROM (${select})) TO '${scratch}' (FORMAT parquet)`);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  await store.put(key, await readFile(scratch));
  await rm(scratch);
  const m = await loadManifest(store, layer);
  const parts = (m.tables[name] ??= {});
  const prior = replace ? [] : (parts[day]?.files ?? []);
  parts[day] = { version: `t${fileSeq}`, files: [...prior, key], rows: 0, bytes: 0 };
  await saveManifest(store, m, Date.now());
  return store.localPath!(key);
}

const silverRow = (device: string, ts: string, value: number) =>
  `SELECT '${device}' AS device_key, 'machine' AS kind, 'plant-a' AS site, 'm1' AS model, 'temp' AS metric, TIMESTAMPTZ '${ts}' AS ts, ${value} AS value, 'C' AS unit, TIMESTAMPTZ '${ts}' AS received_at, 'http' AS source, false AS is_outlier, false AS is_late`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-query-'));
  store = await openLocalStore({ root: join(dir, 'lake') });
  lake = await Lakehouse.open({ store, stagingDir: join(dir, 'staging'), pseudonymKey: Buffer.alloc(32, 1), devices: async () => [], settings: { memoryLimit: '512MB', threads: 1 } });
  q = new LakeQuery(lake, { stagingDir: join(dir, 'staging') });
  secretFile = join(dir, 'secret.txt');
  await writeFile(secretFile, `${SECRET}\n`);
  silverFile = await putPartition('silver', 'telemetry', '2026-11-20', `${silverRow('dk-1', '2026-11-20 10:00:00+00', 20.5)} UNION ALL ${silverRow('dk-2', '2026-11-20 11:30:00.123456+00', 21)}`);
  await putPartition('silver', 'telemetry', '2026-11-21', silverRow('dk-1', '2026-11-21 00:00:00+00', 19.25));
  await putPartition(
    'gold',
    'daily',
    '2026-11-20',
    `SELECT 'dk-1' AS device_key, 'machine' AS kind, 'temp' AS metric, DATE '2026-11-20' AS day, 2 AS count, 20.5 AS min, 21 AS max, 20.75 AS mean, 0.3 AS stddev, 20.5 AS p50, 21 AS p95, 1440 AS expected, 0.0014 AS completeness, 0 AS late, 0 AS outliers`,
  );
  bronzeFile = await putPartition(
    'bronze',
    'telemetry',
    '2026-11-20',
    `SELECT 'e-1' AS event_id, 'BRONZE-SECRET-press-7' AS device_id, TIMESTAMPTZ '2026-11-20 10:00:00+00' AS ts, 'temp' AS metric, 20.5 AS value, 'C' AS unit, TIMESTAMPTZ '2026-11-20 10:00:01+00' AS received_at, 'http' AS source, 'raw/k' AS raw_key`,
  );
  await putPartition('bronze', 'quarantine', '2026-11-20', `SELECT 'raw/k' AS raw_key, 'bad json' AS reason, NULL AS event_id, NULL AS device_id, NULL AS metric, 'QUARANTINE-SECRET' AS raw`);
});

afterAll(async () => {
  await q.close();
  await lake.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** The error a query rejects with. */
async function failure(run: Promise<unknown>): Promise<StrataError> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the query should have failed').toBeInstanceOf(StrataError);
  return err as StrataError;
}

describe('LakeQuery tables', () => {
  it('gives analysts silver and gold, typed as the specs say, with dt from the path', async () => {
    const res = await q.run('SELECT device_key, ts, value, dt, is_late FROM silver ORDER BY ts', { role: 'analyst' });
    expect(res.columns).toEqual([
      { name: 'device_key', type: 'VARCHAR' },
      { name: 'ts', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'value', type: 'DOUBLE' },
      { name: 'dt', type: 'DATE' },
      { name: 'is_late', type: 'BOOLEAN' },
    ]);
    expect(res.rows).toEqual([
      { device_key: 'dk-1', ts: '2026-11-20T10:00:00.000Z', value: 20.5, dt: '2026-11-20', is_late: false },
      { device_key: 'dk-2', ts: '2026-11-20T11:30:00.123456Z', value: 21, dt: '2026-11-20', is_late: false },
      { device_key: 'dk-1', ts: '2026-11-21T00:00:00.000Z', value: 19.25, dt: '2026-11-21', is_late: false },
    ]);
    expect(res).toMatchObject({ format: 'json', rowCount: 3, truncated: false });
    expect(res.elapsedMs).toBeGreaterThanOrEqual(0);

    const gold = await q.run('SELECT count, expected, completeness, day FROM gold_daily', { role: 'analyst' });
    expect(gold.rows).toEqual([{ count: 2, expected: 1440, completeness: 0.0014, day: '2026-11-20' }]);
  });

  it('shows analysts only their views, and admins all nine; tables without files are empty views of their columns', async () => {
    const list = 'SELECT table_name FROM information_schema.tables ORDER BY 1';
    expect((await q.run(list, { role: 'analyst' })).rows.map((r) => r.table_name)).toEqual(['gold_daily', 'gold_fleet_daily', 'gold_hourly', 'gold_predictions_daily', 'silver']);
    expect((await q.run(list, { role: 'admin' })).rows.map((r) => r.table_name)).toEqual(['bronze', 'gold_daily', 'gold_fleet_daily', 'gold_hourly', 'gold_predictions_daily', 'predictions', 'predictions_quarantine', 'quarantine', 'silver']);

    const empty = await q.run('SELECT * FROM gold_fleet_daily', { role: 'analyst' });
    expect(empty.rows).toEqual([]);
    expect(empty.columns.map((c) => `${c.name} ${c.type}`)).toEqual([
      ...tableSpec('gold', 'fleet_daily').columns.map(([c, t]) => `${c} ${t}`),
      'dt DATE',
    ]);
    const bronze = await q.run('SELECT device_id, dt FROM bronze', { role: 'admin' });
    expect(bronze.rows).toEqual([{ device_id: 'BRONZE-SECRET-press-7', dt: '2026-11-20' }]);
  });

  it('sees new partitions and replaced files as soon as their manifest is committed', async () => {
    const count = async () => (await q.run('SELECT count(*) AS n FROM gold_hourly', { role: 'analyst' })).rows[0]!.n;
    expect(await count()).toBe(0);
    const hour = (n: number) => `SELECT 'dk-1' AS device_key, 'machine' AS kind, 'temp' AS metric, TIMESTAMPTZ '2026-11-20 10:00:00+00' AS hour, ${n} AS count, 1 AS min, 2 AS max, 1.5 AS mean, 0.5 AS stddev, 1.5 AS p50, 2 AS p95`;
    await putPartition('gold', 'hourly', '2026-11-20', `${hour(1)} UNION ALL ${hour(2)}`);
    expect(await count()).toBe(2);
    await putPartition('gold', 'hourly', '2026-11-20', hour(3), true);
    expect(await count()).toBe(1);
  });
});

describe('LakeQuery security', () => {
  const leaked = (text: string) => [SECRET, 'BRONZE-SECRET', 'QUARANTINE-SECRET', 'root:x:0:0'].filter((s) => text.includes(s));

  it('never lets an analyst read bronze or quarantine, by view or by file', async () => {
    for (const sql of [
      'SELECT * FROM bronze',
      'SELECT * FROM quarantine',
      `SELECT * FROM read_parquet('${bronzeFile}')`,
      `SELECT * FROM '${bronzeFile}'`,
      `SELECT * FROM read_parquet('${join(dir, 'lake', 'bronze')}/**/*.parquet')`,
      `SELECT * FROM read_parquet('${silverFile}/../../../../bronze/telemetry/dt=2026-11-20/${bronzeFile.split('/').pop()}')`,
      `SELECT * FROM parquet_metadata('${bronzeFile}')`,
      `SELECT * FROM read_blob('${bronzeFile}')`,
      `SELECT * FROM query('SELECT * FROM read_parquet(''${bronzeFile}'')')`,
    ]) {
      const err = await failure(q.run(sql, { role: 'analyst' }));
      expect(['STRATA_ERR_LAKE_QUERY_REJECTED', 'STRATA_ERR_LAKE_QUERY_FAILED'], sql).toContain(err.code);
      expect(err.statusCode).toBe(400);
      expect(leaked(err.message), sql).toEqual([]);
    }
  });

  it('lets nobody read, list or write files of the machine, nor change the settings that guard them', async () => {
    const attacks = [
      `SELECT * FROM read_text('${secretFile}')`,
      `SELECT * FROM read_csv('/etc/passwd', sep = ':')`,
      `SELECT * FROM read_csv_auto('${secretFile}')`,
      `SELECT * FROM read_json('${secretFile}')`,
      `SELECT * FROM read_blob('${secretFile}')`,
      `SELECT * FROM sniff_csv('${secretFile}')`,
      `SELECT * FROM glob('${dir}/*')`,
      `SELECT * FROM read_text('file://${secretFile}')`,
      `SELECT * FROM read_text('${dir}/lake/../secret.txt')`,
      `SELECT * FROM read_text('http://127.0.0.1:1/')`,
      `COPY (SELECT 1) TO '${dir}/copied.csv'`,
      `COPY silver TO '${dir}/copied.csv'`,
      `EXPORT DATABASE '${dir}/exported'`,
      `ATTACH '${dir}/attached.db'`,
      'INSTALL httpfs',
      'LOAD httpfs',
      'SET enable_external_access = true',
      `SET allowed_paths = ['${secretFile}']`,
      'SET lock_configuration = false',
      'RESET lock_configuration',
      'PRAGMA enable_profiling',
      "PRAGMA memory_limit = '100GB'",
      'CALL pragma_version()',
      'CREATE TABLE t AS SELECT 1',
      'CREATE MACRO m() AS 1',
      'DROP VIEW silver',
      'SELECT 1; DROP VIEW silver',
      `SELECT 1; SELECT * FROM read_text('${secretFile}')`,
      `SELECT * FROM query('COPY (SELECT 1) TO ''${dir}/copied.csv''')`,
      'EXPLAIN SELECT 1',
      'USE system',
      'CHECKPOINT',
      'DETACH memory',
      "SET VARIABLE x = 1",
    ];
    for (const role of ['analyst', 'admin'] as const) {
      for (const sql of attacks) {
        const err = await failure(q.run(sql, { role }));
        expect(['STRATA_ERR_LAKE_QUERY_REJECTED', 'STRATA_ERR_LAKE_QUERY_FAILED'], `${role}: ${sql}`).toContain(err.code);
        expect(err.statusCode).toBe(400);
        expect(leaked(err.message), sql).toEqual([]);
      }
    }
    expect(existsSync(join(dir, 'copied.csv'))).toBe(false);
    expect(existsSync(join(dir, 'exported'))).toBe(false);
    expect(existsSync(join(dir, 'attached.db'))).toBe(false);
    // The views are all still there.
    expect((await q.run('SELECT count(*) AS n FROM silver', { role: 'admin' })).rows).toEqual([{ n: 3 }]);
  });

  it('says why a statement is refused', async () => {
    expect((await failure(q.run(`SELECT * FROM read_text('${secretFile}')`, { role: 'admin' }))).message).toMatch(/query rejected: queries read the lake's tables only \(Permission Error/);
    expect((await failure(q.run('SELECT 1; SELECT 2', { role: 'admin' }))).message).toBe('query rejected: one statement at a time, and this SQL holds 2');
    expect((await failure(q.run('CREATE TABLE t AS SELECT 1', { role: 'admin' }))).message).toBe('query rejected: only SELECT statements may run, and this is CREATE');
    for (const sql of ['', '   ', ';', '-- nothing but a comment']) {
      const err = await failure(q.run(sql, { role: 'admin' }));
      expect(err.code, JSON.stringify(sql)).toBe('STRATA_ERR_LAKE_QUERY_REJECTED');
    }
    const parse = await failure(q.run('SELEC 1', { role: 'admin' }));
    expect(parse.code).toBe('STRATA_ERR_LAKE_QUERY_FAILED');
    expect(parse.message).toMatch(/^query failed: Parser Error: syntax error at or near "SELEC"/);
    const missing = await failure(q.run('SELECT * FROM nope', { role: 'admin' }));
    expect(missing.message).toMatch(/^query failed: Catalog Error: Table with name nope does not exist/);
    const long = await failure(q.run(`SELECT * FROM nope_${'x'.repeat(5000)}`, { role: 'admin' }));
    expect(long.message.length).toBeLessThan(1100);
  });

  it('refuses the functions that change DuckDB despite the lock, and SQL made at run time, however they are called', async () => {
    const logs = join(dir, 'duck-logs');
    for (const sql of [
      `SELECT * FROM enable_logging(storage = 'file', storage_path = '${logs}')`,
      `SELECT * FROM system.main.enable_logging('QueryLog')`,
      `SELECT * FROM "ENABLE_LOGGING"()`,
      `SELECT (SELECT count(*) FROM enable_logging()) AS n`,
      `WITH x AS (SELECT * FROM enable_profiling()) SELECT * FROM silver, x`,
      `DESCRIBE (SELECT * FROM enable_logging())`,
      `SELECT * FROM silver, LATERAL (SELECT * FROM checkpoint())`,
      'SELECT * FROM truncate_duckdb_logs()',
      `SELECT * FROM query('SELECT * FROM ' || 'enable_logging()')`,
      `SELECT * FROM query_table('silver')`,
      // Forms DuckDB cannot show its parse of are refused rather than let through unchecked.
      `SELECT * FROM (PIVOT silver ON metric USING count(*))`,
    ]) {
      const err = await failure(q.run(sql, { role: 'analyst' }));
      expect(err.code, sql).toBe('STRATA_ERR_LAKE_QUERY_REJECTED');
    }
    expect((await failure(q.run('SELECT * FROM enable_logging()', { role: 'admin' }))).message).toBe('query rejected: queries may not call enable_logging');
    expect(existsSync(logs)).toBe(false);
  });

  it('takes the usual read-only forms: WITH, FROM first, DESCRIBE, SUMMARIZE, SHOW TABLES, VALUES, PIVOT in FROM', async () => {
    for (const sql of [
      'WITH d AS (SELECT * FROM silver) SELECT count(*) FROM d',
      'FROM silver SELECT device_key',
      'DESCRIBE silver',
      'SUMMARIZE silver',
      'SHOW TABLES',
      'VALUES (1), (2)',
      `FROM silver PIVOT (count(*) FOR device_key IN ('dk-1', 'dk-2'))`,
      'SELECT * FROM pragma_version()',
      'SELECT 1;',
    ]) {
      const res = await q.run(sql, { role: 'analyst' });
      expect(res.rowCount, sql).toBeGreaterThan(0);
    }
  });

  it('runs every query with external access off and the configuration locked', async () => {
    const res = await q.run(`SELECT current_setting('lock_configuration') AS locked, current_setting('enable_external_access') AS external`, { role: 'analyst' });
    expect(res.rows).toEqual([{ locked: true, external: false }]);
  });
});

describe('LakeQuery limits', () => {
  it('stops reading at maxRows without reading the rest', async () => {
    // A billion rows: only streaming and stopping answers this.
    const res = await q.run('SELECT range AS i FROM range(1000000000)', { role: 'analyst', maxRows: 5000 });
    expect(res.rowCount).toBe(5000);
    expect(res.rows.at(-1)).toEqual({ i: 4999 });
    expect(res.truncated).toBe(true);
    // Exactly at a chunk boundary (DuckDB's chunks hold 2048 rows).
    expect((await q.run('SELECT * FROM range(2048)', { role: 'analyst', maxRows: 2048 })).truncated).toBe(false);
    expect((await q.run('SELECT * FROM range(2049)', { role: 'analyst', maxRows: 2048 })).truncated).toBe(true);
    expect((await q.run('SELECT * FROM range(20000)', { role: 'analyst' })).rowCount).toBe(10_000);
  });

  it('refuses row limits outside 1 to 100 000', async () => {
    for (const maxRows of [0, -1, 1.5, 100_001]) {
      expect((await failure(q.run('SELECT 1', { role: 'analyst', maxRows }))).code).toBe('STRATA_ERR_LAKE_QUERY_REJECTED');
    }
    expect((await q.run('SELECT * FROM range(100000)', { role: 'analyst', maxRows: 100_000 })).rowCount).toBe(100_000);
  });

  it('stops at the byte bound of an answer', async () => {
    const small = new LakeQuery(lake, { stagingDir: join(dir, 'staging'), maxBytes: 10_000 });
    try {
      const res = await small.run(`SELECT repeat('x', 1000) AS s FROM range(100)`, { role: 'analyst' });
      expect(res.truncated).toBe(true);
      expect(res.rowCount).toBeGreaterThan(5);
      expect(res.rowCount).toBeLessThan(10);
    } finally {
      await small.close();
    }
  });

  it('interrupts a query at its deadline, and the next one runs', async () => {
    const err = await failure(q.run('SELECT count(*) FROM range(10000000000000)', { role: 'analyst', timeoutMs: 200 }));
    expect(err.code).toBe('STRATA_ERR_LAKE_QUERY_TIMEOUT');
    expect(err.statusCode).toBe(408);
    expect(err.message).toBe('query exceeded its time limit of 200 ms');
    expect((await q.run('SELECT 1 AS one', { role: 'analyst' })).rows).toEqual([{ one: 1 }]);
  });

  it('runs at most maxConcurrent queries; a query that waits past its deadline times out', async () => {
    const one = new LakeQuery(lake, { stagingDir: join(dir, 'staging'), maxConcurrent: 1 });
    try {
      const slow = one.run('SELECT count(*) FROM range(10000000000000)', { role: 'analyst', timeoutMs: 1500 });
      const waiting = one.run('SELECT 1', { role: 'analyst', timeoutMs: 100 });
      expect((await failure(waiting)).code).toBe('STRATA_ERR_LAKE_QUERY_TIMEOUT');
      expect((await failure(slow)).code).toBe('STRATA_ERR_LAKE_QUERY_TIMEOUT');
      expect((await one.run('SELECT 2 AS two', { role: 'analyst' })).rows).toEqual([{ two: 2 }]);
    } finally {
      await one.close();
    }
  });

  it('stops running queries on close and refuses new ones', async () => {
    const closing = new LakeQuery(lake, { stagingDir: join(dir, 'staging') });
    const slow = failure(closing.run('SELECT count(*) FROM range(10000000000000)', { role: 'analyst' }));
    await new Promise((r) => setTimeout(r, 200));
    await closing.close();
    expect((await slow).code).toBe('STRATA_ERR_LAKE_CLOSED');
    expect((await failure(closing.run('SELECT 1', { role: 'analyst' }))).code).toBe('STRATA_ERR_LAKE_CLOSED');
  });

  it('tries again when a file it was given vanished (a job replaced it meanwhile)', async () => {
    let calls = 0;
    const racing: QueryableLake = {
      settings: lake.settings,
      tables: async (role) => {
        const tables = await lake.tables(role);
        if (calls++ > 0) return tables;
        return tables.map((t) => (t.spec.view === 'silver' ? { ...t, paths: [...t.paths, join(dir, 'lake/silver/telemetry/dt=2026-11-22/part-gone.parquet')] } : t));
      },
    };
    const retrying = new LakeQuery(racing, { stagingDir: join(dir, 'staging') });
    try {
      expect((await retrying.run('SELECT count(*) AS n FROM silver', { role: 'analyst' })).rows).toEqual([{ n: 3 }]);
      expect(calls).toBe(2);
    } finally {
      await retrying.close();
    }
  });
});

describe('LakeQuery answers', () => {
  it('are JSON-safe: big integers as strings, times as ISO 8601 in UTC, dates as days', async () => {
    const res = await q.run(
      `SELECT 9007199254740993::BIGINT AS big, 42::BIGINT AS small, 12345678901234567890::HUGEINT AS huge, 1.5 AS dec, 12345678901234567.891::DECIMAL(20,3) AS wide,
        TIMESTAMPTZ '2026-11-20 12:00:00+02' AS instant, TIMESTAMP '2026-11-20 03:04:05.5' AS naive, DATE '2026-11-20' AS day,
        'infinity'::TIMESTAMPTZ AS inf, 'nan'::DOUBLE AS nan, NULL AS nothing, [1, 2] AS list, {'a': 1::BIGINT, 'b': DATE '2026-01-02'} AS struct,
        INTERVAL 90 MINUTE AS span, 1 AS a, 2 AS a`,
      { role: 'analyst' },
    );
    expect(res.rows).toEqual([
      {
        big: '9007199254740993',
        small: 42,
        huge: '12345678901234567890',
        dec: 1.5,
        wide: '12345678901234567.891',
        instant: '2026-11-20T10:00:00.000Z',
        naive: '2026-11-20T03:04:05.500',
        day: '2026-11-20',
        inf: 'infinity',
        nan: 'NaN',
        nothing: null,
        list: [1, 2],
        struct: { a: 1, b: '2026-01-02' },
        span: '01:30:00',
        a: 1,
        'a:1': 2,
      },
    ]);
    expect(res.columns.map((c) => c.name).slice(-2)).toEqual(['a', 'a:1']);
    expect(JSON.parse(JSON.stringify(res.rows))).toEqual(res.rows);
  });

  it('come as RFC 4180 CSV with a header row', async () => {
    const res = await q.run(
      `SELECT * FROM (VALUES (1, 'plain', 'a,b', 'say "hi"', 'two' || chr(10) || 'lines', '', NULL, TIMESTAMPTZ '2026-11-20 10:00:00+00')) t(n, s, comma, quote, newline, empty, nothing, ts)`,
      { role: 'analyst', format: 'csv' },
    );
    expect(res.format).toBe('csv');
    expect(res.csv).toBe('n,s,comma,quote,newline,empty,nothing,ts\r\n1,plain,"a,b","say ""hi""","two\nlines","",,2026-11-20T10:00:00.000Z\r\n');
    expect(res).toMatchObject({ rowCount: 1, truncated: false });
    const limited = await q.run('SELECT * FROM range(10) t(i)', { role: 'analyst', format: 'csv', maxRows: 3 });
    expect(limited.csv).toBe('i\r\n0\r\n1\r\n2\r\n');
    expect(limited.truncated).toBe(true);
  });
});
