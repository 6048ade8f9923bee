import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { seededDataDir } from '@strata/db/testing';
import { hourPath, TABLES } from '@strata/lake';
import { BIN, strata } from './test-support.js';

// Yesterday, so retention keeps it whatever today is; two hours of it.
const START = Math.floor(Date.now() / 86_400_000 - 1) * 86_400_000 + 10 * 3_600_000;
const OBJECTS = 40;
const EVENTS_PER_OBJECT = 1000;

function writeRaw(dataDir: string): void {
  for (let o = 0; o < OBJECTS; o++) {
    const lines: string[] = [];
    for (let i = 0; i < EVENTS_PER_OBJECT; i++) {
      const n = o * EVENTS_PER_OBJECT + i;
      const ts = new Date(START + n * 120).toISOString();
      lines.push(JSON.stringify({ id: `e${n}`, device: `m-${n % 50}`, ts, metrics: { temp: 20 + (n % 7), rpm: 1000 + (n % 300) }, received_at: ts, source: 'http' }));
    }
    if (o % 10 === 9) lines.push('not json', lines[0]!); // a bad line and a re-delivered event
    const path = join(dataDir, 'lake', 'raw', 'telemetry', hourPath(START + o * EVENTS_PER_OBJECT * 120), `telemetry-0-${o * 10_000}-${o * 10_000 + 9_999}.ndjson.gz`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, gzipSync(lines.join('\n') + '\n'));
  }
}

/** Every lake table as CSV, sorted: what a user querying the lake sees. */
async function tables(dataDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of TABLES) {
    const res = await strata(['sql', `SELECT * FROM ${t.view} ORDER BY ALL`, '--data', dataDir, '--format', 'csv', '--max-rows', '100000']);
    expect(res.code, res.stderr).toBe(0);
    out[t.view] = res.stdout;
  }
  return out;
}

const crashed = await seededDataDir('cli-lake-crash');
const clean = await seededDataDir('cli-lake-clean');
afterAll(() => {
  crashed.remove();
  clean.remove();
});

describe('strata lake run killed with SIGKILL', () => {
  it('leaves tables that, after a rerun, equal a clean run', async () => {
    // The same database, with its pseudonymisation key (made by a first, empty run), and the
    // same raw zone in both.
    expect((await strata(['lake', 'run', '--data', crashed.dir])).code).toBe(0);
    rmSync(clean.dir, { recursive: true, force: true });
    cpSync(crashed.dir, clean.dir, { recursive: true });
    writeRaw(crashed.dir);
    writeRaw(clean.dir);
    // Small batches: many commits, so the kill lands between two of them.
    const env = { STRATA_LAKE__BATCH_BYTES: '20000' };

    const child = spawn(process.execPath, [BIN, 'lake', 'run', '--data', crashed.dir], { env: { ...process.env, ...env }, stdio: 'ignore' });
    const manifest = join(crashed.dir, 'lake', '_state', 'lake', 'bronze.json');
    const done = () => {
      try {
        return Object.keys((JSON.parse(readFileSync(manifest, 'utf8')) as { rawDone: object }).rawDone).length;
      } catch {
        return 0; // not written yet, or being replaced
      }
    };
    await expect.poll(done, { timeout: 60_000, interval: 5 }).toBeGreaterThanOrEqual(2);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const doneAtKill = done();
    expect(doneAtKill).toBeLessThan(OBJECTS); // it really died half-way through bronze

    const rerun = await strata(['lake', 'run', '--data', crashed.dir, '--json'], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    const cleanRun = await strata(['lake', 'run', '--data', clean.dir, '--json'], env);
    expect(cleanRun.code, cleanRun.stderr).toBe(0);

    const [after, expected] = [await tables(crashed.dir), await tables(clean.dir)];
    // Compared table by table, first differing line shown (a diff of megabytes would not be read).
    for (const t of TABLES) {
      const a = after[t.view]!.split('\n');
      const e = expected[t.view]!.split('\n');
      const i = a.findIndex((line, n) => line !== e[n]);
      expect({ table: t.view, lines: a.length, firstDifference: i < 0 ? null : { line: i, after: a[i], expected: e[i] } }).toEqual({ table: t.view, lines: e.length, firstDifference: null });
    }
    expect(after.bronze!.trim().split('\n')).toHaveLength(1 + OBJECTS * EVENTS_PER_OBJECT * 2);
    expect(after.quarantine!.trim().split('\n')).toHaveLength(1 + OBJECTS / 10);
  }, 180_000);
});
