import { describe, expect, it } from 'vitest';
import { lakeErrors } from '../errors.js';
import { scheduleProblem, startLakeScheduler } from './scheduler.js';
import type { RunSummary } from './types.js';

const SUMMARY: RunSummary = { layers: [], seconds: 0 };

/** A lake whose runs finish when the test says so. */
function fakeLake() {
  const pending: Array<{ resolve: (s: RunSummary) => void; reject: (e: unknown) => void }> = [];
  let runs = 0;
  return {
    get runs() {
      return runs;
    },
    run(): Promise<RunSummary> {
      runs++;
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
    finish(): void {
      pending.shift()!.resolve(SUMMARY);
    },
    fail(err: unknown): void {
      pending.shift()!.reject(err);
    },
  };
}

function recordingLogger() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string | undefined }> = [];
  const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

describe('scheduleProblem', () => {
  it('takes 5- and 6-field cron expressions and explains anything else', () => {
    expect(scheduleProblem('*/5 * * * *')).toBeUndefined();
    expect(scheduleProblem('*/10 * * * * *')).toBeUndefined();
    expect(scheduleProblem('0 3 * * MON')).toBeUndefined();
    expect(scheduleProblem('61 * * * *')).toMatch(/minute/);
    expect(scheduleProblem('every five minutes')).toMatch(/parts/);
    expect(scheduleProblem('0 0 0 1 1 * 2030')).toMatch(/5 or 6 parts/);
    expect(scheduleProblem('2030-01-23T00:00:00')).toMatch(/not a schedule/);
  });

  it('is checked when the scheduler starts', () => {
    expect(() => startLakeScheduler({ lake: fakeLake(), schedule: '* * *' })).toThrow(expect.objectContaining({ code: lakeErrors.STRATA_ERR_LAKE_BAD_SETTING.code }));
  });
});

describe('startLakeScheduler', () => {
  it('runs the lake at each tick of the schedule', async () => {
    const runs: RunSummary[] = [];
    const lake = { run: async () => SUMMARY };
    const scheduler = startLakeScheduler({ lake, schedule: '* * * * * *', onRun: (s) => runs.push(s) });
    try {
      await expect.poll(() => runs.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
      expect(scheduler.nextRun()).toBeInstanceOf(Date);
    } finally {
      await scheduler.stop();
    }
    expect(scheduler.nextRun()).toBeNull();
  });

  it('skips a tick while the previous run is going, with a debug log', async () => {
    const lake = fakeLake();
    const logger = recordingLogger();
    const scheduler = startLakeScheduler({ lake, schedule: '0 0 1 1 *', logger });
    const first = scheduler.trigger();
    expect(await scheduler.trigger()).toBe('skipped');
    expect(lake.runs).toBe(1);
    expect(logger.lines.filter((l) => l.level === 'debug' && /skipped/.test(l.msg ?? ''))).toHaveLength(1);
    lake.finish();
    expect(await first).toBe('ran');
    const second = scheduler.trigger();
    expect(lake.runs).toBe(2);
    lake.finish();
    expect(await second).toBe('ran');
    await scheduler.stop();
  });

  it('logs a failed run as a warning with its code and keeps scheduling', async () => {
    const lake = fakeLake();
    const logger = recordingLogger();
    const scheduler = startLakeScheduler({ lake, schedule: '0 0 1 1 *', logger });
    const failing = scheduler.trigger();
    lake.fail(lakeErrors.STRATA_ERR_LAKE_JOB_FAILED({ layer: 'bronze', reason: 'disk full' }));
    expect(await failing).toBe('failed');
    expect(logger.lines.filter((l) => l.level === 'warn')).toMatchObject([{ obj: { code: 'STRATA_ERR_LAKE_JOB_FAILED' } }]);
    const next = scheduler.trigger();
    lake.finish();
    expect(await next).toBe('ran');
    expect(scheduler.nextRun()).toBeInstanceOf(Date);
    await scheduler.stop();
  });

  it('stop waits for the run in progress and no tick runs after it', async () => {
    const lake = fakeLake();
    const scheduler = startLakeScheduler({ lake, schedule: '0 0 1 1 *' });
    const run = scheduler.trigger();
    let stopped = false;
    const stopping = scheduler.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toBe(false);
    lake.finish();
    await stopping;
    expect(await run).toBe('ran');
    expect(await scheduler.trigger()).toBe('skipped');
    expect(lake.runs).toBe(1);
    await scheduler.stop();
  });
});
