import { describe, expect, it } from 'vitest';
import { waitUntil } from '@strata/testkit';
import type { BackupReport } from './backup.js';
import type { PruneReport } from './list.js';
import { startBackupScheduler } from './scheduler.js';

// The backup and prune themselves are tested in backup.test.ts; here, stand-ins that record calls.
const report = (id: string) => ({ id, seconds: 0.1, database: { rows: 1 }, lake: { objects: 0, copied: 0 } }) as unknown as BackupReport;
const pruned = { kept: [], deleted: ['old'], blobsDeleted: 0, bytesFreed: 0 } as unknown as PruneReport;

describe('startBackupScheduler', () => {
  it('backs up on its schedule, prunes after each success, and goes on after a failure', async () => {
    const calls: string[] = [];
    let fail = true;
    const scheduler = startBackupScheduler({
      schedule: '* * * * * *', // every second
      backup: async () => {
        calls.push('backup');
        if (fail) throw new Error('target unreachable');
        return report(`b${calls.length}`);
      },
      prune: async () => {
        calls.push('prune');
        return pruned;
      },
    });
    try {
      expect(await scheduler.trigger()).toBe('failed');
      expect(calls).toEqual(['backup']); // no prune after a failed backup
      expect(scheduler.lastSuccess()).toBeUndefined();
      fail = false;
      await waitUntil('a scheduled backup', () => scheduler.lastSuccess() !== undefined, 5000, 50);
      expect(calls.slice(-2)).toEqual(['backup', 'prune']);
      expect(scheduler.nextRun()).toBeInstanceOf(Date);
    } finally {
      await scheduler.stop();
    }
    expect(scheduler.nextRun()).toBeNull();
  });

  it('skips a tick while a backup is still running, and stop waits for it', async () => {
    let release!: () => void;
    let finished = false;
    const scheduler = startBackupScheduler({
      schedule: '0 3 * * *',
      backup: () =>
        new Promise<BackupReport>((resolve) => {
          release = () => {
            finished = true;
            resolve(report('slow'));
          };
        }),
    });
    const first = scheduler.trigger();
    expect(await scheduler.trigger()).toBe('skipped');
    const stopping = scheduler.stop();
    release();
    await stopping;
    expect(finished).toBe(true);
    expect(await first).toBe('ran');
    expect(await scheduler.trigger()).toBe('skipped'); // stopped
  });

  it('refuses a schedule that is not a cron expression', () => {
    expect(() => startBackupScheduler({ schedule: 'daily', backup: async () => report('x') })).toThrow(/schedule daily/);
  });
});
