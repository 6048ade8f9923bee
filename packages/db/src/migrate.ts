import { Migrator, type Kysely, type MigrationResult } from 'kysely';
import { MIGRATIONS } from './migrations/index.js';
import { dbErrors } from './errors.js';

export interface MigrationReport {
  /** Migrations this call applied, in order (empty when the schema was up to date). */
  applied: string[];
}

/**
 * Brings the schema to the latest version. Safe when several processes start at once: Kysely
 * serialises migrators on a PostgreSQL advisory lock inside one transaction, and the loser
 * finds the work done. A database newer than this code (a migration it does not know) is refused.
 */
export async function migrateToLatest(db: Kysely<unknown>): Promise<MigrationReport> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...MIGRATIONS }) },
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
  const { results, error } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r: MigrationResult) => r.status === 'Error');
    const reason = error instanceof Error ? error.message : String(error);
    if (/corrupted migrations/.test(reason)) {
      throw dbErrors.STRATA_ERR_DB_TOO_NEW({ migrations: reason.replace(/^.*?: /, '') }, error);
    }
    throw dbErrors.STRATA_ERR_DB_MIGRATION({ migration: failed?.migrationName ?? '(setup)', reason }, error);
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
