/**
 * Keys made before the operational store existed lived in an append-only log `DATA/keys.jsonl`:
 *   {"op":"create","id","hash","scopes","device"?,"name"?,"created","expires"?}
 *   {"op":"revoke","id","at"}
 * At start they move into the database (same ids and hashes, so every key keeps working), in
 * one transaction with an audit record, and the file is renamed `keys.jsonl.imported`. A torn
 * last line (crash while appending) was never acknowledged to anyone and is skipped.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { appendAudit, type Db } from '@strata/db';

interface LegacyKey {
  id: string;
  hash: string;
  scopes: string[];
  device?: string;
  name?: string;
  created: string;
  expires?: string;
  revoked?: string;
}

function readLog(file: string): LegacyKey[] {
  const keys = new Map<string, LegacyKey>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const id = String(entry.id);
    if (entry.op === 'create') keys.set(id, entry as unknown as LegacyKey);
    else if (entry.op === 'revoke' && keys.has(id)) keys.get(id)!.revoked = String(entry.at);
  }
  return [...keys.values()];
}

/** Moves the keys of `file` (if it exists) into the database; returns how many were imported. */
export async function importLegacyKeyLog(db: Db, file: string): Promise<number> {
  if (!existsSync(file)) return 0;
  const keys = readLog(file);
  await db.kysely.transaction().execute(async (tx) => {
    for (const k of keys) {
      await tx
        .insertInto('api_keys')
        .values({
          id: k.id,
          hash: Buffer.from(k.hash, 'hex'),
          scopes: k.scopes,
          name: k.name ?? null,
          device: k.device ?? null,
          created: new Date(k.created),
          expires: k.expires ? new Date(k.expires) : null,
          revoked: k.revoked ? new Date(k.revoked) : null,
          created_by: 'import:keys.jsonl',
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
    await appendAudit(tx, { actor: 'system', action: 'key.import', resource: 'file:keys.jsonl', outcome: 'success', details: { keys: keys.length } });
  });
  renameSync(file, `${file}.imported`);
  return keys.length;
}
