import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { envelope } from '@strata/core';
import { openDatabase } from '@strata/db';
import { seededDataDir } from '@strata/db/testing';
import { healthcareFixture } from '../../../packages/records/src/testing/fixture.js';
import { BIN, strata } from './test-support.js';

let data: { dir: string; remove(): void };
let csv: string;
const fixture = healthcareFixture({ seed: 5, rows: 1500 });

beforeAll(async () => {
  data = await seededDataDir('cli-records');
  csv = join(data.dir, 'patients.csv');
  writeFileSync(csv, fixture.csv);
});
afterAll(() => data.remove());

async function admissions(dir: string): Promise<number> {
  const db = await openDatabase({ dir: join(dir, 'db') });
  try {
    return Number((await sql<{ n: number }>`select count(*)::int as n from admissions`.execute(db.kysely)).rows[0]!.n);
  } finally {
    await db.close();
  }
}

describe('strata import patients', () => {
  it('imports, proves integrity, and changes nothing the second time', async () => {
    const first = await strata(['import', 'patients', csv, '--data', data.dir]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/OK, integrity proven/);
    expect(first.stdout).toMatch(new RegExp(`${fixture.duplicates} exact duplicates removed, ${fixture.expected.length} distinct`));
    const again = await strata(['import', 'patients', csv, '--data', data.dir, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, admissions: { inserted: 0, alreadyPresent: fixture.expected.length } });
    expect(await admissions(data.dir)).toBe(fixture.expected.length);
  }, 60_000);

  it('refuses what is not a healthcare CSV, and a missing file, with exit code 2', async () => {
    const garbage = join(data.dir, 'garbage.csv');
    writeFileSync(garbage, 'this,is,not\r\nthe,right,file\r\n');
    const bad = await strata(['import', 'patients', garbage, '--data', data.dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a healthcare CSV/);
    const missing = await strata(['import', 'patients', join(data.dir, 'nope.csv'), '--data', data.dir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such file/);
  }, 60_000);

  it('rotates the master key: DATA/master.key changes, every name still opens (the next import proves it)', async () => {
    const before = readFileSync(join(data.dir, 'master.key'), 'utf8');
    const rotated = await strata(['keys', 'rotate-master', '--data', data.dir]);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/re-sealed 2 data key\(s\)/);
    expect(readFileSync(join(data.dir, 'master.key'), 'utf8')).not.toBe(before);
    const proven = await strata(['import', 'patients', csv, '--data', data.dir, '--json']);
    expect(proven.code, proven.stderr).toBe(0);
    expect(JSON.parse(proven.stdout).checks.find((c: { name: string }) => c.name === 'patients.name: checksum (unsealed)')).toMatchObject({ ok: true });
    // A key from the environment is the operator's to replace: the command asks for the new one.
    const fromEnv = await strata(['keys', 'rotate-master', '--data', data.dir], { STRATA_MASTER_KEY: envelope.newKey().toString('base64') });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(/--new-key-file/);
  }, 60_000);
});

describe('an import killed with SIGKILL', () => {
  it('leaves all or nothing of itself, and the next run completes and proves it', async () => {
    const fresh = await seededDataDir('cli-records-kill');
    try {
      const big = healthcareFixture({ seed: 8, rows: 20_000 });
      const file = join(fresh.dir, 'big.csv');
      writeFileSync(file, big.csv);
      const child = spawn(process.execPath, [BIN, 'import', 'patients', file, '--data', fresh.dir], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 3000)); // started, somewhere in read or load
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect([0, big.expected.length]).toContain(await admissions(fresh.dir));
      const rerun = await strata(['import', 'patients', file, '--data', fresh.dir]);
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(await admissions(fresh.dir)).toBe(big.expected.length);
    } finally {
      fresh.remove();
    }
  }, 120_000);
});
