/**
 * The `lake` role: runs the lakehouse jobs on a cron schedule (croner), one run at a time. A tick
 * that finds the previous run still going is skipped, not queued: the next run picks up whatever
 * arrived meanwhile, since every layer is incremental. A failed run is logged and the schedule
 * goes on; the next run retries from the manifests.
 */
import { Cron } from 'croner';
import { silentLogger, StrataError, type Logger } from '@strata/core';
import { lakeErrors } from '../errors.js';
import type { RunSummary } from './types.js';

/** Schedules are read in UTC, like the lake's day and hour partitions. */
const TIMEZONE = 'UTC';

export interface LakeSchedulerOptions {
  /** What is run at each tick (a `Lakehouse`). */
  lake: { run(): Promise<RunSummary> };
  /** Cron expression, 5 fields (minute first) or 6 (second first), in UTC; e.g. `*\/5 * * * *`. */
  schedule: string;
  logger?: Logger;
  /** Called after each successful run (metrics, tests). */
  onRun?: (summary: RunSummary) => void;
}

/** What one tick did: a run that succeeded or failed (logged), or nothing because a run was going. */
export type TickOutcome = 'ran' | 'failed' | 'skipped';

export interface LakeScheduler {
  /** Runs now as a tick does (skipped while a run is going, or once stopped); resolves when done. */
  trigger(): Promise<TickOutcome>;
  /** When the next tick is due; null once stopped. */
  nextRun(): Date | null;
  /** Stops ticking and resolves once a run in progress has finished. Never rejects; idempotent. */
  stop(): Promise<void>;
}

/** Why `schedule` is not a cron expression the scheduler takes, or undefined if it is. */
export function scheduleProblem(schedule: string): string | undefined {
  try {
    const probe = new Cron(schedule, { paused: true, mode: '5-or-6-parts', timezone: TIMEZONE });
    const once = probe.getPattern() === undefined;
    probe.stop();
    // croner also takes a date for a one-off job; a schedule must repeat.
    return once ? 'a date is not a schedule: give a cron expression' : undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Starts ticking; rejects a bad schedule with `STRATA_ERR_LAKE_BAD_SETTING`. */
export function startLakeScheduler(opts: LakeSchedulerOptions): LakeScheduler {
  const problem = scheduleProblem(opts.schedule);
  if (problem !== undefined) throw lakeErrors.STRATA_ERR_LAKE_BAD_SETTING({ setting: 'schedule', reason: problem });
  const logger = opts.logger ?? silentLogger;
  let running: Promise<TickOutcome> | undefined;
  let stopped = false;

  const runOnce = async (): Promise<TickOutcome> => {
    const started = performance.now();
    try {
      const summary = await opts.lake.run();
      logger.debug({ seconds: summary.seconds }, 'scheduled lake run done');
      opts.onRun?.(summary);
      return 'ran';
    } catch (err) {
      const code = err instanceof StrataError ? err.code : undefined;
      logger.warn({ err, code, seconds: (performance.now() - started) / 1000 }, 'scheduled lake run failed; the next tick retries');
      return 'failed';
    }
  };

  const tick = async (): Promise<TickOutcome> => {
    if (stopped) return 'skipped';
    if (running) {
      logger.debug({ schedule: opts.schedule }, 'lake run still going: tick skipped');
      return 'skipped';
    }
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
  logger.info({ schedule: opts.schedule, next: job.nextRun()?.toISOString() }, 'lake scheduler started');

  return {
    trigger: tick,
    nextRun: () => (stopped ? null : job.nextRun()),
    async stop() {
      stopped = true;
      job.stop();
      await running;
    },
  };
}
