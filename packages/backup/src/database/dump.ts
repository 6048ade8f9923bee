/**
 * A table's rows as text, in a fixed order: each row is a JSON array of its columns' PostgreSQL
 * text output (or null), one line each. Text output round-trips every type exactly through the
 * type's input function (bytea as hex, numeric with all its digits, timestamptz to the
 * microsecond in UTC, arrays, jsonb, dates), so the dump of a restored table has the same
 * SHA-256 as the original's. Rows stream through a cursor, a page at a time.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { ident, type Sql, type TableInfo } from './catalog.js';

export const PAGE_ROWS = 5000;

/** Row order: the primary key, else every column; text in bytewise ("C") order on every engine. */
export function orderBy(table: TableInfo): string[] {
  if (table.primaryKey.length > 0) {
    return table.primaryKey.map((name) => {
      const col = table.columns.find((c) => c.name === name);
      return col?.collatable ? `${ident(name)} collate "C"` : ident(name);
    });
  }
  return table.columns.map((c) => `${ident(c.name)}::text collate "C"`);
}

let cursors = 0;

/** Pages of NDJSON lines (each ends with \n) of the table, in order. Call inside a transaction. */
export async function* tableLines(db: Sql, table: TableInfo, pageRows = PAGE_ROWS): AsyncGenerator<string[]> {
  const cursor = `strata_backup_${++cursors}`;
  const cols = table.columns.map((c, i) => `${ident(c.name)}::text as c${i}`).join(', ');
  await sql.raw(`declare ${cursor} no scroll cursor for select ${cols || 'null as c0'} from only ${ident(table.name)} order by ${orderBy(table).join(', ') || '1'}`).execute(db);
  const n = table.columns.length;
  try {
    for (;;) {
      const { rows } = await sql.raw<Record<string, string | null>>(`fetch forward ${pageRows} from ${cursor}`).execute(db);
      if (rows.length === 0) break;
      const lines = new Array<string>(rows.length);
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]!;
        const values = new Array<string | null>(n);
        for (let i = 0; i < n; i++) values[i] = row[`c${i}`] ?? null;
        lines[r] = JSON.stringify(values) + '\n';
      }
      yield lines;
      if (rows.length < pageRows) break;
    }
  } finally {
    await sql.raw(`close ${cursor}`).execute(db);
  }
}

/** Row count and content checksum of a table as it is now (the same dump, hashed, not stored). */
export async function tableChecksum(db: Sql, table: TableInfo): Promise<{ rows: number; sha256: string }> {
  const hash = createHash('sha256');
  let rows = 0;
  for await (const lines of tableLines(db, table)) {
    for (const line of lines) hash.update(line);
    rows += lines.length;
  }
  return { rows, sha256: hash.digest('hex') };
}
