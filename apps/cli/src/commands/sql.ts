import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadConfig } from '@strata/config';
import { openLocalStore } from '@strata/storage';
import { Lakehouse, LakeQuery, QUERY_DEFAULTS, type LakeSettings, type QueryFormat, type QueryResult } from '@strata/lake';
import { commonOverrides, type CommonFlags } from '../options.js';
import { UsageError } from '../run.js';

export interface SqlRequest {
  /** The data dir whose lake (`<dataDir>/lake`) to query. */
  dataDir: string;
  sql: string;
  format: QueryFormat;
  maxRows?: number;
  settings?: Partial<Pick<LakeSettings, 'memoryLimit' | 'threads'>>;
}

/**
 * One read-only query, as admin (whoever runs this has the machine), on the lake of a local
 * data dir; a running server may be using it meanwhile.
 */
export async function runSql(req: SqlRequest): Promise<QueryResult> {
  const root = join(req.dataDir, 'lake');
  if (!(await stat(root).then((s) => s.isDirectory(), () => false))) throw new UsageError(`no lake in ${req.dataDir} (there is no ${root})`);
  // Scratch of our own: Lakehouse.open clears `<stagingDir>/jobs`, where a running server's lake jobs may be working.
  const staging = await mkdtemp(join(tmpdir(), 'strata-sql-'));
  const store = await openLocalStore({ root });
  try {
    // Queries never pseudonymise: the key only matters to the silver job, which this lake never runs.
    const lake = await Lakehouse.open({ store, stagingDir: staging, pseudonymKey: new Uint8Array(32), devices: async () => [], ...(req.settings && { settings: req.settings }) });
    const query = new LakeQuery(lake, { stagingDir: staging });
    try {
      return await query.run(req.sql, { role: 'admin', format: req.format, ...(req.maxRows !== undefined && { maxRows: req.maxRows }) });
    } finally {
      await query.close();
      await lake.close();
    }
  } finally {
    await store.close();
    await rm(staging, { recursive: true, force: true });
  }
}

function maxRows(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > QUERY_DEFAULTS.maxRowsLimit) throw new InvalidArgumentError(`must be an integer from 1 to ${QUERY_DEFAULTS.maxRowsLimit}`);
  return n;
}

export function registerSql(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('sql')
    .description('run one read-only SELECT over the lake tables of a local data dir (views: silver, gold_hourly, gold_daily, gold_fleet_daily, bronze, quarantine)')
    .argument('<sql>', 'the query, e.g. "SELECT kind, count(*) FROM silver GROUP BY kind"')
    .addOption(new Option('--format <format>', 'json: one JSON object per row (NDJSON); csv: RFC 4180 with a header row').choices(['json', 'csv']).default('json'))
    .option('--max-rows <n>', `rows to print at most, 1 to ${QUERY_DEFAULTS.maxRowsLimit} (default ${QUERY_DEFAULTS.maxRows})`, maxRows)
    .option('--data <dir>', 'data directory (default ./data, env STRATA_DATA)')
    .option('--config <file>', 'YAML or JSON config file (for the data dir and lake.memoryLimit, lake.threads)')
    .action(async (sql: string, flags: CommonFlags & { format: QueryFormat; maxRows?: number }) => {
      const config = loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: commonOverrides(flags) });
      const result = await runSql({
        dataDir: config.dataDir,
        sql,
        format: flags.format,
        ...(flags.maxRows !== undefined && { maxRows: flags.maxRows }),
        settings: { memoryLimit: config.lake.memoryLimit, threads: config.lake.threads },
      });
      process.stdout.write(result.format === 'csv' ? result.csv : result.rows.map((r) => JSON.stringify(r) + '\n').join(''));
      if (result.truncated) process.stderr.write(`strata: stopped after ${result.rowCount} rows; the query has more (--max-rows)\n`);
    });
}
