import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase, dbErrors, MIGRATIONS } from './index.js';
import { openTestDatabase, seedEmbeddedDatabase } from './testing.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-db-open-'));
  dirs.push(dir);
  return dir;
}

describe('the embedded database', () => {
  it('keeps what was committed across a reopen, and records every migration once', async () => {
    const dir = scratch();
    await seedEmbeddedDatabase(dir);
    const db = await openDatabase({ dir });
    await db.kysely.insertInto('devices').values({ id: 'm-1', kind: 'machine', metadata: '{"site":"lyon"}', tags: '{}' }).execute();
    await db.close();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);

    const again = await openDatabase({ dir });
    try {
      const row = await again.kysely.selectFrom('devices').selectAll().executeTakeFirstOrThrow();
      expect(row).toMatchObject({ id: 'm-1', kind: 'machine', metadata: { site: 'lyon' } });
      expect(row.created).toBeInstanceOf(Date);
      const applied = await sql<{ name: string }>`select name from schema_migrations order by name`.execute(again.kysely);
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(MIGRATIONS));
    } finally {
      await again.close();
    }
  });

  it('refuses a second opener of the same directory while the first holds it', async () => {
    const dir = scratch();
    await seedEmbeddedDatabase(dir);
    const db = await openDatabase({ dir });
    try {
      await expect(openDatabase({ dir })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_LOCKED.is);
    } finally {
      await db.close();
    }
  });

  it('refuses a database that has migrations this version does not know', async () => {
    const dir = scratch();
    await seedEmbeddedDatabase(dir);
    const db = await openDatabase({ dir });
    await sql`insert into schema_migrations (name, timestamp) values ('9999-from-the-future', now()::text)`.execute(db.kysely);
    await db.close();
    await expect(openDatabase({ dir })).rejects.toSatisfy(dbErrors.STRATA_ERR_DB_TOO_NEW.is);
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
  });

  it('keeps the audit log append-only', async () => {
    const db = await openTestDatabase();
    try {
      await db.kysely.insertInto('audit_log').values({ actor: 'system', action: 'test', resource: 'x', outcome: 'success', ip: null, details: null }).execute();
      await expect(db.kysely.updateTable('audit_log').set({ outcome: 'denied' }).execute()).rejects.toThrow(/append-only/);
      await expect(db.kysely.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
      await expect(sql`truncate audit_log`.execute(db.kysely)).rejects.toThrow(/append-only/);
      expect(await db.kysely.selectFrom('audit_log').select('outcome').execute()).toEqual([{ outcome: 'success' }]);
    } finally {
      await db.dispose();
    }
  });

  it('counts int8 as numbers and serialises transactions on its single session', async () => {
    const db = await openTestDatabase();
    try {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          db.kysely.transaction().execute(async (tx) => {
            const { value } = await tx.selectFrom('settings').select('value').where('key', '=', 'auth_version').executeTakeFirstOrThrow();
            await tx.updateTable('settings').set({ value: String(Number(value) + 1) }).where('key', '=', 'auth_version').execute();
            return i;
          }),
        ),
      );
      const { n } = await sql<{ n: number }>`select value::bigint as n from settings where key = 'auth_version'`.execute(db.kysely).then((r) => r.rows[0]!);
      expect(n).toBe(20);
    } finally {
      await db.dispose();
    }
  });
});
