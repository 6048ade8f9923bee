/**
 * Scheduled backups (the server's `lake` role): a backup on a cron schedule (UTC, croner, as the
 * lake scheduler), then a prune keeping the newest `retain`. One run at a time: a tick that finds
 * one going is skipped. A failed run is logged as an error (an operator must act: the RPO is
 * slipping) and the schedule goes on.
 */
import { Cron } from 'croner';
import { silentLogger, StrataError, type Logger } from '@strata/core';
import { scheduleProblem } from '@strata/lake';
import { backupErrors } from './errors.js';
import type { BackupReport } from './backup.js';
import type { PruneReport } from './list.js';

const TIMEZONE = 'UTC';

export interface BackupSchedulerOptions {
  /** Cron expression, 5 or 6 fields, UTC (config `backup.schedule`, default `0 3 * * *`). */
  schedule: string;
  /** Takes one backup (createBackup with the deployment's engines). */
  backup: () => Promise<BackupReport>;
  /** Prunes after a successful backup (pruneBackups with `backup.retain`). */
  prune?: () => Promise<PruneReport>;
  logger?: Logger;
  onRun?: (report: BackupReport, pruned?: PruneReport) => void;
}

export type BackupTickOutcome = 'ran' | 'failed' | 'skipped';

export interface BackupScheduler {
  trigger(): Promise<BackupTickOutcome>;
  nextRun(): Date | null;
  /** The last successful backup's report (for /metrics or the dashboard: the age of the newest backup is the RPO now). */
  lastSuccess(): BackupReport | undefined;
  stop(): Promise<void>;
}

export function startBackupScheduler(opts: BackupSchedulerOptions): BackupScheduler {
  const problem = scheduleProblem(opts.schedule);
  if (problem !== undefined) throw backupErrors.STRATA_ERR_BACKUP_BAD_TARGET({ target: `schedule ${opts.schedule}`, reason: problem });
  const logger = opts.logger ?? silentLogger;
  let running: Promise<BackupTickOutcome> | undefined;
  let stopped = false;
  let last: BackupReport | undefined;

  const runOnce = async (): Promise<BackupTickOutcome> => {
    try {
      const report = await opts.backup();
      last = report;
      let pruned: PruneReport | undefined;
      try {
        pruned = await opts.prune?.();
      } catch (err) {
        logger.warn({ err }, 'pruning old backups failed; the next run retries');
      }
      logger.info({ id: report.id, seconds: report.seconds, rows: report.database.rows, objects: report.lake.objects, copied: report.lake.copied, deleted: pruned?.deleted.length ?? 0 }, 'scheduled backup done');
      opts.onRun?.(report, pruned);
      return 'ran';
    } catch (err) {
      logger.error({ err, code: err instanceof StrataError ? err.code : undefined }, 'scheduled backup failed; the next tick retries');
      return 'failed';
    }
  };

  const tick = async (): Promise<BackupTickOutcome> => {
    if (stopped || running) return 'skipped';
    running = runOnce();
    try {
      return await running;
    } finally {
      running = undefined;
    }
  };

  const job = new Cron(opts.schedule, { mode: '5-or-6-parts', timezone: TIMEZONE }, () => {
    void tick();
  });
  logger.info({ schedule: opts.schedule, next: job.nextRun()?.toISOString() }, 'backup scheduler started');
  return {
    trigger: tick,
    nextRun: () => (stopped ? null : job.nextRun()),
    lastSuccess: () => last,
    async stop() {
      stopped = true;
      job.stop();
      await running;
    },
  };
}
