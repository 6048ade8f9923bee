import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import pg from 'pg';
import { loadConfig } from '@strata/config';
import { MIGRATIONS } from '@strata/db';
import { renderDoctorTable, runDoctor, type DoctorResult, type DoctorSql } from '@strata/scanner';
import { commonOverrides, type CommonFlags } from '../options.js';
import { openStore } from '../store.js';

export interface DoctorFlags extends CommonFlags {
  url?: string;
  adminKey?: string;
  format: 'table' | 'json';
  json?: string;
}

/** Runs the doctor against the deployment a config (and flags) describe. */
export async function doctor(flags: DoctorFlags, env: NodeJS.ProcessEnv): Promise<{ results: DoctorResult[]; ok: boolean }> {
  const config = loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: commonOverrides(flags) });
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const url = flags.url ?? `http://${host}:${config.http.port}`;
  const keyFile = join(config.dataDir, 'admin.key');
  const fromFile = flags.adminKey === undefined && env.STRATA_ADMIN_KEY === undefined && existsSync(keyFile);
  const adminKey = flags.adminKey ?? env.STRATA_ADMIN_KEY ?? (fromFile ? readFileSync(keyFile, 'utf8').trim() : undefined);
  const store = await openStore(config).catch(() => undefined);
  let client: pg.Client | undefined;
  let sql: DoctorSql | undefined;
  if (config.db.url) {
    const c = new pg.Client({ connectionString: config.db.url, connectionTimeoutMillis: 5000, query_timeout: 10_000 });
    client = c;
    // A pg client whose connection failed or dropped never settles its later queries (the process
    // would end with exit 13 and no report): every query after that rejects with the first error.
    let lost: Error | undefined;
    c.on('error', (err) => (lost ??= err));
    c.on('end', () => (lost ??= new Error('connection to PostgreSQL closed')));
    await c.connect().catch((err: unknown) => (lost ??= err instanceof Error ? err : new Error(String(err))));
    sql = { query: (text) => (lost ? Promise.reject(lost) : c.query(text)) };
  }
  try {
    return await runDoctor({ config, url, ...(adminKey !== undefined && { adminKey }), ...(fromFile && { adminKeyFile: keyFile }), ...(store && { store }), ...(sql && { sql }), migrations: Object.keys(MIGRATIONS) });
  } finally {
    await store?.close();
    await client?.end().catch(() => undefined);
  }
}

export function registerDoctor(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('doctor')
    .description('check a running deployment (config, data dir, API, object store zones, database, secrets, TLS, disk, retention); exit 1 when a check fails')
    .option('--config <file>', 'YAML or JSON config file of the deployment')
    .option('--data <dir>', 'data directory (default ./data, env STRATA_DATA)')
    .option('--url <url>', 'the API (default: http.host and http.port of the config)')
    .option('--admin-key <key>', 'admin key (env STRATA_ADMIN_KEY, else DATA/admin.key)')
    .addOption(new Option('--format <format>', 'table, or json (the results as one JSON document)').choices(['table', 'json']).default('table'))
    .option('--json <file>', 'also write the results as JSON to this file')
    .action(async (flags: DoctorFlags) => {
      const report = await doctor(flags, env);
      const json = JSON.stringify({ ok: report.ok, checkedAt: new Date().toISOString(), results: report.results }, null, 2) + '\n';
      process.stdout.write(flags.format === 'json' ? json : renderDoctorTable(report.results));
      if (flags.json !== undefined) await writeFile(flags.json, json);
      if (!report.ok) process.exitCode = 1;
    });
}
