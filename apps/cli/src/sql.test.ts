import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hourPath, Lakehouse, objectKey } from '@strata/lake';
import { openLocalStore } from '@strata/storage';
import { tempDir } from '@strata/testkit';
import { runSql } from './commands/sql.js';
import { UsageError } from './run.js';
import { strata } from './test-support.js';

const data = tempDir('cli-sql');
afterAll(() => data.remove());

beforeAll(async () => {
  // A lake as the platform leaves it: raw objects from delivery, then a run of the jobs.
  const store = await openLocalStore({ root: join(data.dir, 'lake') });
  const ts = Date.parse('2026-11-20T10:00:00Z');
  const events = [0, 1, 2].map((i) => ({ id: `e-${i}`, device: 'press-1', ts: new Date(ts + i * 60_000).toISOString(), metrics: { temperature: 20 + i }, received_at: new Date(ts + i * 60_000).toISOString(), source: 'http' }));
  await store.put(objectKey('raw', 'telemetry', hourPath(ts), 0, 0, 2), gzipSync(events.map((e) => JSON.stringify(e) + '\n').join('')));
  const lake = await Lakehouse.open({ store, stagingDir: join(data.dir, 'lake-staging'), pseudonymKey: Buffer.alloc(32, 3), devices: async () => [], settings: { memoryLimit: '512MB', threads: 1 } });
  try {
    await lake.run();
  } finally {
    await lake.close();
    await store.close();
  }
});

describe('runSql', () => {
  it('queries the lake of a data dir as admin, bronze included', async () => {
    const silver = await runSql({ dataDir: data.dir, sql: 'SELECT metric, value, dt FROM silver ORDER BY ts', format: 'json' });
    expect(silver.format === 'json' && silver.rows).toEqual([20, 21, 22].map((value) => ({ metric: 'temperature', value, dt: '2026-11-20' })));
    const bronze = await runSql({ dataDir: data.dir, sql: 'SELECT DISTINCT device_id FROM bronze', format: 'csv' });
    expect(bronze.format === 'csv' && bronze.csv).toBe('device_id\r\npress-1\r\n');
  });

  it('refuses a data dir without a lake', async () => {
    await expect(runSql({ dataDir: join(data.dir, 'nowhere'), sql: 'SELECT 1', format: 'json' })).rejects.toThrow(UsageError);
  });
});

describe('strata sql', () => {
  it('prints one JSON object per row, or CSV', async () => {
    const json = await strata(['sql', 'SELECT metric, value FROM silver ORDER BY ts', '--data', data.dir]);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).toBe([20, 21, 22].map((v) => `{"metric":"temperature","value":${v}}\n`).join(''));
    expect(json.stderr).toBe('');
    const csv = await strata(['sql', 'SELECT value FROM silver ORDER BY ts', '--data', data.dir, '--format', 'csv', '--max-rows', '2']);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toBe('value\r\n20\r\n21\r\n');
    expect(csv.stderr).toMatch(/stopped after 2 rows/);
  });

  it('exits 2 with the reason on stderr for a refused or failed query and bad options', async () => {
    const refused = await strata(['sql', `SELECT * FROM read_text('/etc/passwd')`, '--data', data.dir]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^strata: query rejected: .*\[STRATA_ERR_LAKE_QUERY_REJECTED\]\n$/s);
    const failed = await strata(['sql', 'SELECT nope FROM silver', '--data', data.dir]);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toMatch(/\[STRATA_ERR_LAKE_QUERY_FAILED\]/);
    for (const args of [['--max-rows', '0'], ['--format', 'xml']]) {
      const bad = await strata(['sql', 'SELECT 1', '--data', data.dir, ...args]);
      expect(bad.code, args.join(' ')).toBe(2);
    }
  });
});
