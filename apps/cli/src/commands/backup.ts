import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadConfig, type StrataConfig } from '@strata/config';
import { envelope, type Logger } from '@strata/core';
import { MASTER_KEY_FILE, resolveMasterKey, writeMasterKeyFile } from '@strata/records';
import { openDatabase } from '@strata/db';
import { createLogger, PLATFORM_TOPICS } from '@strata/server';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { openEmbeddedStream, type Stream } from '@strata/stream';
import {
  createBackup,
  listBackups,
  openTarget,
  parseLocation,
  pruneBackups,
  restoreBackup,
  s3TargetOptions,
  verifyBackup,
  type BackupReport,
  type BackupSummary,
  type BackupTarget,
  type PruneReport,
  type RestoreReport,
  type VerifyReport,
} from '@strata/backup';
import { commonOverrides, type CommonFlags } from '../options.js';
import { UsageError } from '../run.js';


export interface BackupFlags extends CommonFlags {
  to?: string;
  db?: string;
  json?: boolean;
  logLevel?: string;
}

export interface FromFlags extends CommonFlags {
  id?: string;
  /** The master key that sealed the backup, when it is not the current one (a retired key after a rotation). */
  masterKeyFile?: string;
  db?: string;
  json?: boolean;
  logLevel?: string;
}

export interface RestoreFlags extends FromFlags {
  keepStreamPositions?: boolean;
  databaseOnly?: boolean;
}

function configOf(flags: CommonFlags & { db?: string }, env: NodeJS.ProcessEnv): StrataConfig {
  return loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: { ...commonOverrides(flags), 'db.url': flags.db } });
}

function loggerOf(flags: { logLevel?: string }): Logger {
  return createLogger({ level: flags.logLevel ?? 'warn', pretty: false }, process.stderr).child({ component: 'backup' });
}

function keyFromFile(file: string): Buffer {
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  const key = envelope.parseKey(readFileSync(file, 'utf8'));
  if (!key) throw new UsageError(`${file} does not hold a 32-byte key (base64 or hex)`);
  return key;
}

/** A backup makes DATA/master.key when there is none (as the records do); a restore or verify never does: a backup opens only with the key that sealed it. */
function masterKey(config: StrataConfig, create: boolean): Buffer {
  return resolveMasterKey({ configured: config.records.masterKey, dataDir: config.dataDir, create: create && config.db.url === undefined });
}

async function withTarget<T>(location: string, config: StrataConfig, body: (t: BackupTarget) => Promise<T>): Promise<T> {
  const target = await openTarget(location, s3TargetOptions(config.storage.s3));
  try {
    return await body(target);
  } finally {
    await target.store.close();
  }
}

/** FROM: a target (directory or s3://bucket/prefix) or one backup in it (`…/backups/<id>`). */
export function parseFrom(from: string, id: string | undefined): { location: string; id?: string } {
  const m = /^(.*?)\/?backups\/(\d{8}T\d{9}Z-[0-9a-f]{4})\/?$/.exec(from);
  if (m) {
    if (id !== undefined && id !== m[2]) throw new UsageError(`${from} names backup ${m[2]}, --id says ${id}`);
    return { location: m[1] === '' ? '.' : m[1]!, id: m[2]! };
  }
  parseLocation(from); // fails early on a bad location
  return { location: from, ...(id !== undefined && { id }) };
}

/** The lake's store, as the server opens it: DATA/lake, or the configured bucket. */
async function openLake(config: StrataConfig): Promise<ObjectStore> {
  const s3 = config.storage.s3;
  if (config.storage.engine === 's3' && s3) {
    const { openS3Store } = await import('@strata/storage/s3');
    return openS3Store({ bucket: config.environment ? `${s3.bucket}-${config.environment}` : s3.bucket, ...(s3.prefix !== undefined && { prefix: s3.prefix }), ...s3TargetOptions(s3) });
  }
  return openLocalStore({ root: join(config.dataDir, 'lake') });
}

/** The stream whose positions are recorded: NATS when configured, the embedded one when the data dir has it. */
async function openStream(config: StrataConfig, logger: Logger): Promise<Stream | undefined> {
  if (config.stream.engine === 'nats') {
    const { openNatsStream } = await import('@strata/stream/nats');
    const { servers, replicas, user, password } = config.stream.nats;
    return openNatsStream({ servers, replicas, prefix: config.environment ? `strata_${config.environment}_` : 'strata_', ...(user !== undefined && { user }), ...(password !== undefined && { pass: password }), logger });
  }
  const dir = join(config.dataDir, 'stream');
  return existsSync(dir) ? openEmbeddedStream({ dir, logger }) : undefined;
}

function openDb(config: StrataConfig) {
  return openDatabase(config.db.url ? { url: config.db.url, poolSize: 2 } : { dir: join(config.dataDir, 'db') });
}

/**
 * Takes a backup of the data dir's deployment (its embedded engines need the server stopped; a
 * PostgreSQL server by --db, S3 and NATS do not) to --to, `backup.to`, or DATA/backups.
 */
export async function backupRun(flags: BackupFlags, env: NodeJS.ProcessEnv): Promise<BackupReport> {
  const config = configOf(flags, env);
  const logger = loggerOf(flags);
  const key = masterKey(config, true);
  const db = await openDb(config);
  try {
    const lake = await openLake(config);
    try {
      const stream = await openStream(config, logger);
      try {
        return await withTarget(flags.to ?? config.backup.to ?? join(config.dataDir, 'backups'), config, (target) =>
          createBackup({ db, lake, masterKey: key, target, logger, ...(stream && { stream: { stream, topics: PLATFORM_TOPICS } }) }),
        );
      } finally {
        await stream?.close();
      }
    } finally {
      await lake.close();
    }
  } finally {
    await db.close();
  }
}

export async function backupList(flags: BackupFlags, env: NodeJS.ProcessEnv): Promise<BackupSummary[]> {
  const config = configOf(flags, env);
  return withTarget(flags.to ?? config.backup.to ?? join(config.dataDir, 'backups'), config, (t) => listBackups(t.store));
}

export async function backupPrune(flags: BackupFlags & { retain?: number }, env: NodeJS.ProcessEnv): Promise<PruneReport> {
  const config = configOf(flags, env);
  return withTarget(flags.to ?? config.backup.to ?? join(config.dataDir, 'backups'), config, (t) => pruneBackups(t.store, flags.retain ?? config.backup.retain));
}

/** Restores FROM into a scratch database (in memory) and compares everything with its manifest. */
export async function backupVerify(from: string, flags: FromFlags, env: NodeJS.ProcessEnv): Promise<VerifyReport> {
  const config = configOf(flags, env);
  const { location, id } = parseFrom(from, flags.id);
  const key = flags.masterKeyFile !== undefined ? keyFromFile(flags.masterKeyFile) : masterKey(config, false);
  return withTarget(location, config, (t) => verifyBackup({ from: t, masterKey: key, logger: loggerOf(flags), ...(id !== undefined && { id }) }));
}

/** Restores FROM into the data dir's (empty) deployment: the embedded database and lake, or --db and the configured bucket. */
export async function restoreRun(from: string, flags: RestoreFlags, env: NodeJS.ProcessEnv): Promise<RestoreReport> {
  const config = configOf(flags, env);
  const { location, id } = parseFrom(from, flags.id);
  const key = flags.masterKeyFile !== undefined ? keyFromFile(flags.masterKeyFile) : masterKey(config, false);
  const logger = loggerOf(flags);
  return withTarget(location, config, async (t) => {
    const db = await openDb(config);
    try {
      const lake = flags.databaseOnly ? undefined : await openLake(config);
      try {
        const report = await restoreBackup({ from: t, masterKey: key, db, logger, keepStreamPositions: flags.keepStreamPositions ?? false, ...(lake && { lake }), ...(id !== undefined && { id }) });
        // The restored data keys are sealed by this key: the restored deployment needs it to start.
        if (config.records.masterKey === undefined && !existsSync(join(config.dataDir, MASTER_KEY_FILE))) writeMasterKeyFile(config.dataDir, key);
        return report;
      } finally {
        await lake?.close();
      }
    } finally {
      await db.close();
    }
  });
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

export function formatBackup(r: BackupReport): string {
  return (
    [
      `backup ${r.id} → ${r.location}`,
      `database  ${r.database.tables} tables  ${r.database.rows} rows  ${mib(r.database.bytes)} MiB  ${r.database.seconds.toFixed(2)} s`,
      `lake      ${r.lake.objects} objects  ${mib(r.lake.bytes)} MiB  ${r.lake.copied} copied (${mib(r.lake.copiedBytes)} MiB)  ${r.lake.reused} already there  ${r.lake.seconds.toFixed(2)} s`,
      ...(r.lake.vanished > 0 ? [`          ${r.lake.vanished} objects deleted by lake jobs during the backup were left out`] : []),
      `stream    ${r.stream ? `${r.stream.groups} consumer groups on ${r.stream.topics} topics` : 'not recorded (no stream in this data dir)'}`,
      `total     ${mib(r.bytesWritten)} MiB written  ${r.seconds.toFixed(2)} s`,
    ].join('\n') + '\n'
  );
}

export function formatRestore(r: RestoreReport): string {
  return (
    [
      `restored ${r.id}`,
      `database  ${r.database.tables} tables  ${r.database.rows} rows${r.database.checked ? ' (checked)' : ''}  ${r.database.seconds.toFixed(2)} s`,
      `lake      ${r.lake.objects} objects  ${mib(r.lake.bytes)} MiB  ${r.lake.seconds.toFixed(2)} s`,
      r.streamPositions === 'cleared' ? 'stream    positions cleared: the deployment starts a new, empty stream' : 'stream    positions kept (the old stream must still be there)',
      `total     ${r.seconds.toFixed(2)} s`,
    ].join('\n') + '\n'
  );
}

export function formatVerify(r: VerifyReport): string {
  const head = r.ok
    ? `backup ${r.id} OK: ${r.files.checked} files (${mib(r.files.bytes)} MiB) check out; ${r.database.tables} tables, ${r.database.rows} rows restored and identical; ${r.lake.objects} lake objects`
    : `backup ${r.id} FAILED verification:`;
  return [head, ...r.problems.map((p) => `  ${p.file}: ${p.problem}`), `${r.seconds.toFixed(2)} s`].join('\n') + '\n';
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be an integer >= 1');
  return n;
}

const logLevel = () => new Option('--log-level <level>', 'logs, on stderr (default warn)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function common(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'data directory (default ./data, env STRATA_DATA); its embedded engines need the server stopped')
    .option('--db <url>', 'a PostgreSQL server instead of the embedded database (env STRATA_DB_URL)')
    .option('--config <file>', 'YAML or JSON config file')
    .option('--json', 'print the report as JSON')
    .addOption(logLevel());
}

export function registerBackup(program: Command, env: NodeJS.ProcessEnv): void {
  const backup = common(program.command('backup'))
    .description('back up the database, stream positions and lake, encrypted (default to DATA/backups); list, verify, prune')
    .option('--to <dir|s3://bucket/prefix>', 'where the backup goes (default backup.to, else DATA/backups)')
    .action(async (flags: BackupFlags) => {
      const report = await backupRun(flags, env);
      process.stdout.write(flags.json ? JSON.stringify(report) + '\n' : formatBackup(report));
    });

  common(backup.command('list'))
    .description('list the backups of a target, oldest first')
    .option('--to <dir|s3://bucket/prefix>', 'the target (default backup.to, else DATA/backups)')
    .action(async (_: BackupFlags, cmd: Command) => {
      const flags = cmd.optsWithGlobals<BackupFlags>();
      const list = await backupList(flags, env);
      if (flags.json) process.stdout.write(JSON.stringify(list) + '\n');
      else for (const b of list) process.stdout.write(`${b.id}  ${b.finishedAt}  ${b.tables} tables  ${b.rows} rows  ${b.objects} objects  ${mib(b.bytes)} MiB  key ${b.masterKeyId}\n`);
    });

  common(backup.command('verify'))
    .description('restore a backup into a scratch database and compare counts and checksums with its manifest; names every damaged file')
    .argument('<from>', 'the target (dir or s3://bucket/prefix; its newest backup) or one backup (…/backups/<id>)')
    .option('--id <id>', 'which backup of the target (default the newest)')
    .option('--master-key-file <file>', 'the master key that sealed it, if not the current one (master.key.<id>.retired after a rotation)')
    .action(async (from: string, _: FromFlags, cmd: Command) => {
      const flags = cmd.optsWithGlobals<FromFlags>();
      const report = await backupVerify(from, flags, env);
      process.stdout.write(flags.json ? JSON.stringify(report) + '\n' : formatVerify(report));
      if (!report.ok) process.exitCode = 1;
    });

  common(backup.command('prune'))
    .description('delete all but the newest backups, and the lake objects only they referred to')
    .option('--to <dir|s3://bucket/prefix>', 'the target (default backup.to, else DATA/backups)')
    .option('--retain <n>', 'backups kept (default backup.retain, 7)', positiveInt)
    .action(async (_: BackupFlags, cmd: Command) => {
      const flags = cmd.optsWithGlobals<BackupFlags & { retain?: number }>();
      const report = await backupPrune(flags, env);
      process.stdout.write(flags.json ? JSON.stringify(report) + '\n' : `kept ${report.kept.length}, deleted ${report.deleted.length} backups and ${report.blobsDeleted} lake objects (${mib(report.bytesFreed)} MiB)\n`);
    });
}

export function registerRestore(program: Command, env: NodeJS.ProcessEnv): void {
  common(program.command('restore'))
    .description('restore a backup into an empty data directory (or --db database and the configured bucket); the server must be stopped')
    .argument('<from>', 'the target (dir or s3://bucket/prefix; its newest backup) or one backup (…/backups/<id>)')
    .option('--id <id>', 'which backup of the target (default the newest)')
    .option('--database-only', 'restore the database alone, not the lake (a lake on S3 that survived)')
    .option('--keep-stream-positions', 'keep consumer offsets and delivery plans: only when the deployment keeps its old stream')
    .option('--master-key-file <file>', 'the master key that sealed it, if not the current one (master.key.<id>.retired after a rotation)')
    .action(async (from: string, flags: RestoreFlags) => {
      const report = await restoreRun(from, flags, env);
      process.stdout.write(flags.json ? JSON.stringify(report) + '\n' : formatRestore(report));
    });
}
