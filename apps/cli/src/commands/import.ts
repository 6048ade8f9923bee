import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type StrataConfig } from '@strata/config';
import { appendAudit, openDatabase, type Db } from '@strata/db';
import { formatImportReport, importPatients, loadRecordKeys, resolveMasterKey, type ImportReport, type RecordKeys, type RecordsDb } from '@strata/records';
import { commonOverrides, type CommonFlags } from '../options.js';
import { UsageError } from '../run.js';

export interface ImportFlags extends CommonFlags {
  db?: string;
  batchSize?: number;
  sample?: number;
  seed?: number;
  report?: string;
  json?: boolean;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/**
 * Opens the records store of a data dir (the embedded database: the server must be stopped) or
 * of a server by `--db`, with its keys, and always closes it.
 */
export async function withRecords<T>(flags: CommonFlags & { db?: string }, env: NodeJS.ProcessEnv, body: (r: { db: Db; records: RecordsDb; keys: RecordKeys; config: StrataConfig }) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: { ...commonOverrides(flags), 'db.url': flags.db } });
  // A key is made only for the data dir's own embedded database: one for a server's is the server's (STRATA_MASTER_KEY).
  const master = resolveMasterKey({ configured: config.records.masterKey, dataDir: config.dataDir, create: config.db.url === undefined });
  const db = await openDatabase(config.db.url ? { url: config.db.url, poolSize: 2 } : { dir: join(config.dataDir, 'db') });
  try {
    const records = db.kysely as unknown as RecordsDb;
    return await body({ db, records, keys: await loadRecordKeys(records, master), config });
  } finally {
    await db.close();
  }
}

/** `strata import patients FILE.csv`: the report; exit code 1 when an integrity check differs. */
export async function importPatientsCommand(file: string, flags: ImportFlags, env: NodeJS.ProcessEnv): Promise<ImportReport> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file`);
  return withRecords(flags, env, async ({ db, records, keys, config }) => {
    const report = await importPatients({
      db: records,
      keys,
      source: createReadStream(file),
      importId: randomUUID(),
      batchSize: flags.batchSize ?? config.records.importBatchSize,
      ...(flags.sample !== undefined && { sampleSize: flags.sample }),
      ...(flags.seed !== undefined && { seed: flags.seed }),
    });
    await appendAudit(db.kysely, {
      actor: `cli:${env.USER ?? 'unknown'}`,
      action: 'records.import',
      resource: `import:${report.importId}`,
      outcome: report.ok ? 'success' : 'failure',
      details: { file: basename(file), rows: report.rowsRead, inserted: report.admissions.inserted },
    });
    return report;
  });
}

export function registerImport(program: Command, env: NodeJS.ProcessEnv): void {
  const imp = program.command('import').description('import data into Strata');
  imp
    .command('patients')
    .description('import a healthcare CSV (Kaggle format): clean, validate, de-duplicate, load all-or-nothing, then prove integrity')
    .argument('<file>', 'the CSV file')
    .option('--data <dir>', 'data directory whose embedded database to load (server stopped; default ./data, env STRATA_DATA)')
    .option('--db <url>', 'load into a PostgreSQL server (env STRATA_DB_URL)')
    .option('--config <file>', 'YAML or JSON config file')
    .option('--batch-size <n>', 'rows per statement (default records.importBatchSize, 1000)', positive)
    .option('--sample <n>', 'rows compared field by field after the load (default 500)', positive)
    .option('--seed <n>', 'seed of the sample, to repeat a verification exactly', positive)
    .option('--report <file>', 'also write the report as JSON to this file')
    .option('--json', 'print the report as JSON instead of text')
    .action(async (file: string, flags: ImportFlags) => {
      const report = await importPatientsCommand(file, flags, env);
      if (flags.report) writeFileSync(flags.report, JSON.stringify(report, null, 2) + '\n');
      process.stdout.write(flags.json ? JSON.stringify(report) + '\n' : formatImportReport(report));
      if (!report.ok) process.exitCode = 1;
    });
}
