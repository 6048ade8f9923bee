/**
 * The keys of the records: a master key from config or env (like a KMS key: it never enters the
 * database), and data keys stored in `data_keys`, each sealed by the master. A stolen database
 * therefore reveals no names; a stolen master key alone holds no data.
 *
 * - `names` seals patient names (AES-256-GCM, AAD = patient id).
 * - `index` keys the HMAC that turns a patient's identity into their id, so the same person gets
 *   the same id on every import without the database holding anything a dictionary could reverse.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envelope } from '@strata/core';
import { recordsErrors } from './errors.js';
import type { RecordsDb } from './schema.js';

export interface MasterKeySource {
  /** `records.masterKey` (env STRATA_MASTER_KEY): base64 or hex, 32 bytes. */
  configured?: string | undefined;
  /** The data directory: `DATA/master.key` is used when nothing is configured. */
  dataDir: string;
  /** Make `DATA/master.key` when it does not exist (first start). Default false. */
  create?: boolean;
}

export const MASTER_KEY_FILE = 'master.key';

/** The master key: configured, else `DATA/master.key` (made once, mode 0600, when `create`). */
export function resolveMasterKey(source: MasterKeySource): Buffer {
  if (source.configured !== undefined) {
    const key = envelope.parseKey(source.configured);
    if (!key) throw recordsErrors.STRATA_ERR_RECORDS_MASTER_KEY({ reason: 'records.masterKey must be 32 bytes, base64 or hex' });
    return key;
  }
  const file = join(source.dataDir, MASTER_KEY_FILE);
  if (!existsSync(file)) {
    if (!source.create) throw recordsErrors.STRATA_ERR_RECORDS_MASTER_KEY({ reason: `no master key: set STRATA_MASTER_KEY or start Strata once to make ${file}` });
    writeFileSync(file, envelope.newKey().toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  const key = envelope.parseKey(readFileSync(file, 'utf8'));
  if (!key) throw recordsErrors.STRATA_ERR_RECORDS_MASTER_KEY({ reason: `${file} does not hold a 32-byte key (base64 or hex)` });
  return key;
}

/** Writes a new master key to `DATA/master.key` (mode 0600), replacing the old one. */
export function writeMasterKeyFile(dataDir: string, key: Buffer): string {
  const file = join(dataDir, MASTER_KEY_FILE);
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export interface RecordKeys {
  /** Id of the `names` data key (stored beside each sealed name). */
  namesKeyId: string;
  names: Buffer;
  index: Buffer;
}

/** The data keys, unsealed with `master`; made (and sealed) on first use. */
export async function loadRecordKeys(db: RecordsDb, master: Buffer): Promise<RecordKeys> {
  const masterId = envelope.keyId(master);
  for (const purpose of ['names', 'index'] as const) {
    const key = envelope.newKey();
    await db
      .insertInto('data_keys')
      .values({ id: `dk_${purpose}_${envelope.keyId(key).slice(0, 8)}`, purpose, wrapped: envelope.seal(master, key, `data-key:${purpose}`), master_id: masterId })
      .onConflict((oc) => oc.column('purpose').doNothing())
      .execute();
  }
  const rows = await db.selectFrom('data_keys').select(['id', 'purpose', 'wrapped', 'master_id']).execute();
  const unwrap = (purpose: 'names' | 'index') => {
    const row = rows.find((r) => r.purpose === purpose)!;
    if (row.master_id !== masterId) throw recordsErrors.STRATA_ERR_RECORDS_MASTER_KEY({ reason: `data keys are sealed by master key ${row.master_id}, this one is ${masterId} (an interrupted \`strata keys rotate-master\` leaves master.key.next: run it again)` });
    try {
      return { id: row.id, key: envelope.open(master, Buffer.from(row.wrapped), `data-key:${purpose}`) };
    } catch (err) {
      throw recordsErrors.STRATA_ERR_RECORDS_MASTER_KEY({ reason: `data key ${row.id} does not open with master key ${masterId}` }, err);
    }
  };
  const names = unwrap('names');
  return { namesKeyId: names.id, names: names.key, index: unwrap('index').key };
}

/**
 * Re-seals every data key with `next`, in one transaction: the data keys and therefore the data
 * stay the same, only their wrapping changes. Returns how many keys were re-wrapped.
 */
export async function rotateMasterKey(db: RecordsDb, current: Buffer, next: Buffer): Promise<{ rewrapped: number; from: string; to: string }> {
  const from = envelope.keyId(current);
  const to = envelope.keyId(next);
  return db.transaction().execute(async (tx) => {
    const rows = await tx.selectFrom('data_keys').select(['id', 'purpose', 'wrapped', 'master_id']).forUpdate().execute();
    for (const row of rows) {
      if (row.master_id === to) continue; // already rotated (a retried rotation)
      if (row.master_id !== from) throw recordsErrors.STRATA_ERR_RECORDS_MASTER_KEY({ reason: `data key ${row.id} is sealed by master key ${row.master_id}, not the current one (${from})` });
      const key = envelope.open(current, Buffer.from(row.wrapped), `data-key:${row.purpose}`);
      await tx.updateTable('data_keys').set({ wrapped: envelope.seal(next, key, `data-key:${row.purpose}`), master_id: to }).where('id', '=', row.id).execute();
    }
    return { rewrapped: rows.filter((r) => r.master_id !== to).length, from, to };
  });
}
