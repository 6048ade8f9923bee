import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envelope } from '@strata/core';
import { loadConfig } from '@strata/config';
import { appendAudit, openDatabase } from '@strata/db';
import { MASTER_KEY_FILE, resolveMasterKey, rotateMasterKey, type RecordsDb } from '@strata/records';
import { commonOverrides } from '../options.js';
import { UsageError } from '../run.js';

/**
 * `strata keys rotate-master`. With the key in DATA/master.key, the new key is written first to
 * `master.key.next`, the data keys are re-sealed in one transaction, then the file is renamed over
 * `master.key`: a crash in between leaves `master.key.next`, and running the command again
 * finishes the rotation with it (re-sealing is idempotent). The old key is kept as
 * `master.key.<id>.retired`: backups taken before the rotation open only with it
 * (`strata restore --master-key-file`); delete it once they have expired.
 */
export async function rotateMasterCommand(
  flags: { data?: string; db?: string; config?: string; newKeyFile?: string },
  env: NodeJS.ProcessEnv,
): Promise<{ rewrapped: number; from: string; to: string; wrote?: string; retired?: string }> {
  const config = loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: { ...commonOverrides(flags), 'db.url': flags.db } });
  const configured = config.records.masterKey !== undefined;
  if (configured && flags.newKeyFile === undefined) throw new UsageError('the master key comes from STRATA_MASTER_KEY (or the config): give the new one with --new-key-file, then set STRATA_MASTER_KEY to it');
  const next = join(config.dataDir, `${MASTER_KEY_FILE}.next`);
  let newKey: Buffer;
  if (flags.newKeyFile !== undefined) {
    const parsed = envelope.parseKey(readFileSync(flags.newKeyFile, 'utf8'));
    if (!parsed) throw new UsageError(`${flags.newKeyFile} does not hold a 32-byte key (base64 or hex)`);
    newKey = parsed;
  } else if (existsSync(next)) {
    const parsed = envelope.parseKey(readFileSync(next, 'utf8'));
    if (!parsed) throw new UsageError(`${next} (left by an interrupted rotation) does not hold a key: remove it and run again`);
    newKey = parsed;
  } else {
    newKey = envelope.newKey();
    writeFileSync(next, newKey.toString('base64') + '\n', { mode: 0o600 });
  }
  const current = resolveMasterKey({ configured: config.records.masterKey, dataDir: config.dataDir });
  const db = await openDatabase(config.db.url ? { url: config.db.url, poolSize: 2 } : { dir: join(config.dataDir, 'db') });
  try {
    const result = await rotateMasterKey(db.kysely as unknown as RecordsDb, current, newKey);
    await appendAudit(db.kysely, { actor: `cli:${env.USER ?? 'unknown'}`, action: 'records.master_key.rotate', resource: 'master-key', outcome: 'success', details: { from: result.from, to: result.to, rewrapped: result.rewrapped } });
    if (configured) return result;
    if (!existsSync(next)) writeFileSync(next, newKey.toString('base64') + '\n', { mode: 0o600 });
    // Backups taken so far are sealed by the old key: it is kept beside, named by its id, for them.
    const retired = join(config.dataDir, `${MASTER_KEY_FILE}.${result.from}.retired`);
    if (!existsSync(retired)) writeFileSync(retired, current.toString('base64') + '\n', { mode: 0o600 });
    renameSync(next, join(config.dataDir, MASTER_KEY_FILE));
    return { ...result, wrote: join(config.dataDir, MASTER_KEY_FILE), retired };
  } finally {
    await db.close();
  }
}
