/**
 * What the backup reads of the database's catalogue: every table of the `public` schema (so
 * tables added by later migrations are included without a change here), their columns, row
 * order, partitions, foreign keys and sequences. Kysely's migration tables are left out: the
 * target database's own migrations make them, and a restore requires the same migrations.
 */
import { sql, type Kysely } from 'kysely';

/** Tables a backup never copies. */
export const SKIPPED_TABLES = new Set(['schema_migrations', 'schema_migrations_lock']);

/**
 * Tables the migrations themselves fill (`settings`: the auth_version counter): a freshly
 * migrated database holds rows there, and a restore replaces them with the backup's.
 */
export const MIGRATION_SEEDED_TABLES = new Set(['settings']);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Sql = Kysely<any>;

export interface TableInfo {
  name: string;
  columns: { name: string; type: string; collatable: boolean; identityAlways: boolean }[];
  primaryKey: string[];
  partition?: { parent: string; bound: string };
}

export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Tables holding rows (plain tables and leaf partitions), by name. */
export async function listTables(db: Sql): Promise<TableInfo[]> {
  const { rows } = await sql<{ name: string; parent: string | null; bound: string | null; columns: string; pk: string | null }>`
    select c.relname as name,
      (select p.relname from pg_inherits i join pg_class p on p.oid = i.inhparent where i.inhrelid = c.oid and c.relispartition) as parent,
      case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as bound,
      (select json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'collatable', a.attcollation <> 0, 'identityAlways', a.attidentity = 'a') order by a.attnum)::text
         from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = '') as columns,
      (select json_agg(a.attname order by k.ord)::text from pg_index x cross join unnest(x.indkey) with ordinality as k(attnum, ord)
         join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum where x.indrelid = c.oid and x.indisprimary) as pk
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r'
    order by c.relname collate "C"`.execute(db);
  return rows
    .filter((r) => !SKIPPED_TABLES.has(r.name))
    .map((r) => ({
      name: r.name,
      columns: JSON.parse(r.columns) as TableInfo['columns'],
      primaryKey: r.pk ? (JSON.parse(r.pk) as string[]) : [],
      ...(r.parent !== null && r.bound !== null && { partition: { parent: r.parent, bound: r.bound } }),
    }));
}

/** Sequences of the public schema (serial and identity columns' included). */
export async function listSequences(db: Sql): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'S' order by c.relname collate "C"`.execute(db);
  return rows.map((r) => r.name);
}

export async function readSequence(db: Sql, name: string): Promise<{ lastValue: string; isCalled: boolean }> {
  const { rows } = await sql<{ last_value: string; is_called: boolean }>`select last_value::text as last_value, is_called from ${sql.raw(ident(name))}`.execute(db);
  return { lastValue: rows[0]!.last_value, isCalled: rows[0]!.is_called };
}

/** Foreign keys between tables of the public schema: child → parents (partitions inherit their parent's). */
export async function foreignKeys(db: Sql): Promise<{ child: string; parent: string }[]> {
  const { rows } = await sql<{ child: string; parent: string }>`
    select distinct ch.relname as child, pa.relname as parent
    from pg_constraint k
    join pg_class ch on ch.oid = k.conrelid join pg_namespace n on n.oid = ch.relnamespace
    join pg_class pa on pa.oid = k.confrelid
    where k.contype = 'f' and n.nspname = 'public'`.execute(db);
  return rows;
}

export async function appliedMigrations(db: Sql): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from schema_migrations order by name`.execute(db);
  return rows.map((r) => r.name);
}

/**
 * Session settings that make every type's text output the same on every engine and machine:
 * timestamps in UTC and ISO, bytea in hex, floats in their shortest exact form. Set with
 * `set local` inside the transaction, so a pooled connection gets its own back.
 */
export async function setOutputSettings(db: Sql): Promise<void> {
  for (const s of ["set local timezone = 'UTC'", "set local datestyle = 'ISO, YMD'", "set local intervalstyle = 'postgres'", "set local bytea_output = 'hex'", 'set local extra_float_digits = 1']) {
    await sql.raw(s).execute(db);
  }
}
