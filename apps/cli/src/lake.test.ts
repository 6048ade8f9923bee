import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevice, openDatabase } from '@strata/db';
import { seededDataDir } from '@strata/db/testing';
import { hourPath, type RunSummary } from '@strata/lake';
import { strata } from './test-support.js';

// Two hours ago, so retention keeps it whatever today is.
const HOUR = Math.floor((Date.now() - 2 * 3_600_000) / 3_600_000) * 3_600_000;
const at = (minute: number) => new Date(HOUR + minute * 60_000).toISOString();
const event = (id: string, device: string, minute: number, metrics: Record<string, number>) =>
  JSON.stringify({ id, device, ts: at(minute), metrics, tags: { kind: 'machine' }, received_at: at(minute), source: 'http' });

/** A raw object as delivery writes it: gzip NDJSON under the event hour. */
function putRaw(dataDir: string, name: string, lines: string[]): void {
  const path = join(dataDir, 'lake', 'raw', 'telemetry', hourPath(HOUR), `telemetry-${name}.ndjson.gz`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, gzipSync(lines.join('\n') + '\n'));
}

const data = await seededDataDir('cli-lake');
beforeAll(async () => {
  const db = await openDatabase({ dir: join(data.dir, 'db') });
  try {
    await createDevice(db.kysely, { id: 'press-1', kind: 'machine', metadata: { site: 'plant-a', model: 'P200', sampleIntervalSeconds: 60 } });
  } finally {
    await db.close();
  }
  putRaw(data.dir, '0-0-2', [event('e1', 'press-1', 1, { temp: 20.5, rpm: 1200 }), event('e2', 'press-1', 2, { temp: 21 }), event('e3', 'press-2', 3, { temp: 19 })]);
  // A re-delivered event and a line that is not JSON.
  putRaw(data.dir, '0-3-5', [event('e3', 'press-2', 3, { temp: 19 }), 'not json', event('e5', 'press-1', 5, { temp: 22 })]);
});
afterAll(() => data.remove());

describe('strata lake run', () => {
  it('runs bronze alone, then the rest, incrementally, printing a summary per layer', async () => {
    const bronze = await strata(['lake', 'run', '--layer', 'bronze', '--data', data.dir, '--json']);
    expect(bronze.code).toBe(0);
    // Job warnings go to stderr (JSON lines), keeping stdout for the summary.
    expect(bronze.stderr).toMatch(/"level":40.*rows quarantined/);
    const first = JSON.parse(bronze.stdout) as RunSummary;
    expect(first.layers).toHaveLength(1);
    expect(first.layers[0]).toMatchObject({ layer: 'bronze', objectsRead: 2, rowsWritten: 5, quarantined: 1, duplicates: 1 });
    expect(first.layers[0]!.partitions).toEqual([at(0).slice(0, 10)]);

    const all = await strata(['lake', 'run', '--data', data.dir]);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^layer\s+objects\s+rows read\s+rows written\s+quarantined\s+duplicates\s+partitions\s+seconds$/);
    // bronze has nothing new; silver and gold build the day.
    expect(lines[1]).toMatch(/^bronze\s+0\s+0\s+0\s+0\s+0\s+0\s+\d+\.\d\d$/);
    expect(lines[2]).toMatch(/^silver\s+\d+\s+5\s+5\s+0\s+0\s+1\s+\d+\.\d\d$/);
    expect(lines[3]).toMatch(/^gold\s+\d+\s+\d+\s+[1-9]\d*\s+0\s+0\s+1\s+\d+\.\d\d$/);
    expect(lines[4]).toMatch(/^total \d+\.\d\d s$/);
  });

  it('rebuilds from --since, layers given in any order and form', async () => {
    const res = await strata(['lake', 'run', '--layer', 'gold,silver', '--since', at(0).slice(0, 10), '--json'], { STRATA_DATA: data.dir });
    expect(res.code).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.layers.map((l) => [l.layer, l.partitions])).toEqual([
      ['silver', [at(0).slice(0, 10)]],
      ['gold', [at(0).slice(0, 10)]],
    ]);
  });

  it('refuses a bad layer or time with a message and exit code 2, before touching the data', async () => {
    const layer = await strata(['lake', 'run', '--layer', 'bronze', '--layer', 'platinum', '--data', data.dir]);
    expect(layer.code).toBe(2);
    expect(layer.stderr).toMatch(/unknown layer platinum: use bronze, silver, gold/);
    const since = await strata(['lake', 'run', '--since', 'yesterday', '--data', data.dir]);
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/--since.*must be a date/);
    const local = await strata(['lake', 'run', '--since', '2025-12-04T10:00:00', '--data', data.dir]);
    expect(local.code).toBe(2);
  });
});
