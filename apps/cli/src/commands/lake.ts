import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadConfig } from '@strata/config';
import { lakeDevices, openDatabase, platformSecret } from '@strata/db';
import { Lakehouse, LAKE_LAYERS, parseLakeTime, type LakeLayer, type RunSummary } from '@strata/lake';
import { createLogger } from '@strata/server';
import { erasedDeviceIds, type RecordsDb } from '@strata/records';
import { openLocalStore } from '@strata/storage';
import { commonOverrides, list, type CommonFlags } from '../options.js';

export interface LakeRunFlags extends CommonFlags {
  db?: string;
  /** Layers to run (default all three); run in their order bronze, silver, gold whatever the order given. */
  layer?: LakeLayer[];
  /** Unix ms: see `RunOptions.since`. */
  since?: number;
  json?: boolean;
  logLevel?: string;
}

/** `--layer`, repeatable, each a comma list. */
export function layers(value: string, previous: LakeLayer[] = []): LakeLayer[] {
  const out = [...previous];
  for (const name of list(value)) {
    if (!(LAKE_LAYERS as readonly string[]).includes(name)) throw new InvalidArgumentError(`unknown layer ${name}: use ${LAKE_LAYERS.join(', ')}`);
    if (!out.includes(name as LakeLayer)) out.push(name as LakeLayer);
  }
  return out;
}

/** `--since`: a UTC date (2025-12-04) or an RFC 3339 time with its offset. */
export function since(value: string): number {
  const ms = parseLakeTime(value);
  if (ms === undefined) throw new InvalidArgumentError('must be a date (2025-12-04, UTC) or a time with offset (2025-12-04T10:00:00Z)');
  return ms;
}

/**
 * Runs the lake jobs once on the data dir's lake (DATA/lake), with the device metadata and the
 * pseudonymisation key of its database: the embedded one (the server must be stopped) or a
 * server's by `--db`. The server's own `lake` role must not run meanwhile.
 */
export async function lakeRun(flags: LakeRunFlags, env: NodeJS.ProcessEnv): Promise<RunSummary> {
  const config = loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: { ...commonOverrides(flags), 'db.url': flags.db } });
  const logger = createLogger({ level: flags.logLevel ?? 'warn', pretty: false }, process.stderr).child({ component: 'lake' });
  const db = await openDatabase(config.db.url ? { url: config.db.url, poolSize: 2 } : { dir: join(config.dataDir, 'db') });
  try {
    const store = await openLocalStore({ root: join(config.dataDir, 'lake') });
    try {
      const { enabled: _enabled, schedule: _schedule, ...settings } = config.lake;
      const lake = await Lakehouse.open({
        store,
        stagingDir: join(config.dataDir, 'lake-staging'),
        pseudonymKey: await platformSecret(db, 'lake_pseudonym_key'),
        devices: () => lakeDevices(db),
        erasedDevices: () => erasedDeviceIds(db.kysely as unknown as RecordsDb),
        settings,
        logger,
      });
      try {
        return await lake.run({ ...(flags.layer && { layers: flags.layer }), ...(flags.since !== undefined && { since: flags.since }) });
      } finally {
        await lake.close();
      }
    } finally {
      await store.close();
    }
  } finally {
    await db.close();
  }
}

/** One line per layer, aligned; the last line the whole run's time. */
export function formatSummary(summary: RunSummary): string {
  const head = ['layer', 'objects', 'rows read', 'rows written', 'quarantined', 'duplicates', 'partitions', 'seconds'];
  const rows = summary.layers.map((l) => [
    l.layer,
    String(l.objectsRead),
    String(l.rowsRead),
    String(l.rowsWritten),
    String(l.quarantined),
    String(l.duplicates),
    String(l.partitions.length),
    l.seconds.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line), `total ${summary.seconds.toFixed(2)} s`].join('\n') + '\n';
}

export function registerLake(program: Command, env: NodeJS.ProcessEnv): void {
  const lake = program.command('lake').description('the lakehouse: raw → bronze → silver → gold Parquet tables under DATA/lake');
  lake
    .command('run')
    .description('run the lake jobs once (the server must be stopped, or run with lake.enabled false)')
    .option('--layer <layers>', `layers to run, repeatable or a comma list: ${LAKE_LAYERS.join(', ')} (default all, always in that order)`, layers)
    .option('--since <time>', 'read raw hours from this time on and rebuild silver and gold days from its day on (2025-12-04 or 2025-12-04T10:00:00Z)', since)
    .option('--data <dir>', 'data directory (default ./data, env STRATA_DATA); its embedded database needs the server stopped')
    .option('--db <url>', 'the PostgreSQL server holding devices and the pseudonymisation key (env STRATA_DB_URL)')
    .option('--config <file>', 'YAML or JSON config file (lake settings)')
    .option('--json', 'print the run summary as JSON')
    .addOption(new Option('--log-level <level>', 'job logs, on stderr (default warn)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .action(async (flags: LakeRunFlags) => {
      const summary = await lakeRun(flags, env);
      process.stdout.write(flags.json ? JSON.stringify(summary) + '\n' : formatSummary(summary));
    });
}
