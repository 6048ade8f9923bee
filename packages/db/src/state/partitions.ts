/**
 * Daily partitions of `rollups_1m` (partitioned by range of `minute`): `rollups_1m_YYYYMMDD`
 * holds the UTC day [YYYY-MM-DD 00:00, next day 00:00). They are created on demand before a
 * batch writes into them and dropped whole by retention (no DELETE, no bloat).
 *
 * Retention keeps whole days: with `retentionDays` = 30 at time `now`, the first kept day is the
 * UTC day of `now - 30 days`; older partitions are dropped and events of older days get no rollup.
 *
 * DDL cannot take parameters: the names and bounds below are built from integer day numbers only.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

export const DAY_MS = 86_400_000;
export const PARTITION_PREFIX = 'rollups_1m_';
const NAME_PATTERN = /^rollups_1m_(\d{4})(\d{2})(\d{2})$/;

/** Days since 1970-01-01 (UTC) of a Unix ms time. */
export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** The first UTC day whose rollups are kept at `nowMs`. */
export function firstKeptDay(nowMs: number, retentionDays: number): number {
  return utcDay(nowMs - retentionDays * DAY_MS);
}

export function partitionName(day: number): string {
  return PARTITION_PREFIX + new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '');
}

/** The day of a partition name, or undefined for a table that is not one of ours. */
export function partitionDay(name: string): number | undefined {
  const m = NAME_PATTERN.exec(name);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return partitionName(utcDay(ms)) === name ? utcDay(ms) : undefined;
}

/** SQLSTATEs a concurrent `create table if not exists` can still raise: duplicate_table, unique_violation (pg_type). */
const DUPLICATE_CODES = new Set(['42P07', '23505']);

export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export class RollupPartitions {
  /** Days known to have a partition (created or seen by this process). */
  readonly #known = new Set<number>();

  constructor(private readonly db: Kysely<Database>) {}

  /** Creates the partitions of `days` this process has not seen yet. */
  async ensure(days: Iterable<number>): Promise<void> {
    for (const day of [...days].sort((a, b) => a - b)) {
      if (this.#known.has(day)) continue;
      const from = new Date(day * DAY_MS).toISOString();
      const to = new Date((day + 1) * DAY_MS).toISOString();
      try {
        await sql`create table if not exists ${sql.id(partitionName(day))} partition of rollups_1m for values from (${sql.lit(from)}) to (${sql.lit(to)})`.execute(this.db);
      } catch (err) {
        if (!DUPLICATE_CODES.has(sqlState(err) ?? '')) throw err; // else another process created it meanwhile
      }
      this.#known.add(day);
    }
  }

  /** Forgets what it knows (another process may have dropped a partition): the next `ensure` checks again. */
  forget(): void {
    this.#known.clear();
  }

  /** Partitions that exist now, by day, oldest first. */
  async list(): Promise<{ day: number; name: string }[]> {
    const { rows } = await sql<{ name: string }>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'rollups_1m'::regclass`.execute(this.db);
    const out: { day: number; name: string }[] = [];
    for (const { name } of rows) {
      const day = partitionDay(name);
      if (day !== undefined) out.push({ day, name });
    }
    return out.sort((a, b) => a.day - b.day);
  }

  /** Drops every partition of a day before `firstDay`; returns the names dropped. */
  async dropBefore(firstDay: number): Promise<string[]> {
    const dropped: string[] = [];
    for (const { day, name } of await this.list()) {
      if (day >= firstDay) break;
      await sql`drop table if exists ${sql.id(name)}`.execute(this.db);
      this.#known.delete(day);
      dropped.push(name);
    }
    return dropped;
  }
}
