import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupReport, BackupSummary, RestoreReport, VerifyReport } from '@strata/backup';
import { envelope } from '@strata/core';
import { createDevice, openDatabase } from '@strata/db';
import { seededDataDir } from '@strata/db/testing';
import { openLocalStore } from '@strata/storage';
import { strataInProcess } from '../test-support.js';
import { registerBackup, registerRestore } from './backup.js';

const KEY = envelope.newKey().toString('base64');
const env = { STRATA_MASTER_KEY: KEY };

/** The commands as `strata` runs them (commander, the run wrapper's exit codes), in process. */
function strata(args: string[], environment: NodeJS.ProcessEnv = env): Promise<{ code: number; stdout: string; stderr: string }> {
  return strataInProcess((program) => {
    registerBackup(program, environment);
    registerRestore(program, environment);
  }, args);
}

async function rows(dataDir: string): Promise<Record<string, unknown[]>> {
  const db = await openDatabase({ dir: join(dataDir, 'db') });
  try {
    const out: Record<string, unknown[]> = {};
    for (const t of ['devices', 'audit_log', 'settings']) out[t] = (await sql<{ r: string }>`select (t.*)::text as r from ${sql.id(t)} t order by 1`.execute(db.kysely)).rows.map((r) => r.r);
    return out;
  } finally {
    await db.close();
  }
}

const source = await seededDataDir('cli-backup');
const restored = await seededDataDir('cli-restore');
beforeAll(async () => {
  const db = await openDatabase({ dir: join(source.dir, 'db') });
  try {
    await createDevice(db.kysely, { id: 'press-1', kind: 'machine', metadata: { site: 'plant-a' } });
    await sql`insert into audit_log (actor, action, resource, outcome, details) values ('cli:t', 'x', 'y', 'success', '{"n": 1}')`.execute(db.kysely);
  } finally {
    await db.close();
  }
  const lake = await openLocalStore({ root: join(source.dir, 'lake') });
  await lake.put('raw/telemetry/year=2025/month=12/day=04/hour=10/telemetry-0-0-0.ndjson.gz', gzipSync('{"id":"e1"}\n'));
  await lake.close();
});
afterAll(() => {
  source.remove();
  restored.remove();
});

describe('strata backup / restore', () => {
  let backup: BackupReport;

  it('backs up to DATA/backups, printing a summary or JSON', async () => {
    const res = await strata(['backup', '--data', source.dir, '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    backup = JSON.parse(res.stdout) as BackupReport;
    expect(backup).toMatchObject({ location: join(source.dir, 'backups'), database: { rows: expect.any(Number) }, lake: { objects: 1, copied: 1 } });
    const text = await strata(['backup', '--data', source.dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^backup \S+ → .*\ndatabase\s+\d+ tables\s+\d+ rows.*\nlake\s+1 objects .* 0 copied .* 1 already there/);
    const list = await strata(['backup', 'list', '--data', source.dir, '--json']);
    expect((JSON.parse(list.stdout) as BackupSummary[]).map((b) => b.id)[0]).toBe(backup.id);
  });

  it('verifies a backup by restoring it into a scratch database', async () => {
    const res = await strata(['backup', 'verify', join(source.dir, 'backups', 'backups', backup.id), '--data', source.dir, '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout) as VerifyReport).toMatchObject({ id: backup.id, ok: true, problems: [] });
  });

  it('restores into an empty data dir, identical; refuses a second time', async () => {
    const res = await strata(['restore', join(source.dir, 'backups'), '--id', backup.id, '--data', restored.dir, '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout) as RestoreReport).toMatchObject({ id: backup.id, streamPositions: 'cleared', lake: { objects: 1 } });
    expect(await rows(restored.dir)).toEqual(await rows(source.dir));
    expect(readdirSync(join(restored.dir, 'lake', 'raw', 'telemetry'))).toEqual(['year=2025']);
    const again = await strata(['restore', join(source.dir, 'backups'), '--data', restored.dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/refusing to restore into a non-empty database: tables .*devices.* \[STRATA_ERR_BACKUP_NOT_EMPTY\]/);
  });

  it('fails with a clear message on a wrong master key or a damaged file', async () => {
    const wrong = await strata(['backup', 'verify', join(source.dir, 'backups'), '--data', source.dir], { STRATA_MASTER_KEY: envelope.newKey().toString('hex') });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/does not open with this master key: it was sealed by master key \w+, this one is \w+ \[STRATA_ERR_BACKUP_MASTER_KEY\]/);
    const latest = readdirSync(join(source.dir, 'backups', 'backups')).sort().at(-1)!;
    const dir = join(source.dir, 'backups', 'backups', latest, 'db', 'devices');
    const file = join(dir, readdirSync(dir)[0]!);
    const bytes = readFileSync(file);
    bytes[20]! ^= 1;
    writeFileSync(file, bytes);
    const res = await strata(['backup', 'verify', join(source.dir, 'backups'), '--data', source.dir]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(`FAILED verification:\n  backups/${latest}/db/devices/00000.ndjson.gz.enc: checksum mismatch (altered)`);
  });

  it('refuses a bad target with exit code 2', async () => {
    const res = await strata(['backup', '--data', source.dir, '--to', 'ftp://host/x']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/invalid backup location ftp:\/\/host\/x/);
  });
});
