import type { Logger } from 'pino';
import type { Db } from '@strata/db';
import type { Lakehouse } from '@strata/lake';
import type { RecordsDb } from '@strata/records';

/** How often the lake role looks for erasures an API process of another host recorded. */
const PENDING_EVERY_MS = 30_000;

export interface LakeErasure {
  /** Erases these devices from the lake now (in the lake's job queue) and marks them done. */
  erase(deviceIds: string[]): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * The lake side of a patient's erasure, in the process that runs the lake's jobs (the `lake`
 * role): only that process may rewrite the lake. A DELETE answered there erases at once; one
 * answered by an API-only process leaves the devices in `erased_devices` with `lake_erased_at`
 * null, and this worker erases them within PENDING_EVERY_MS.
 */
export function startLakeErasure(opts: { db: Db; lake: Lakehouse; logger: Logger }): LakeErasure {
  const db = opts.db.kysely as unknown as RecordsDb;
  let running: Promise<unknown> = Promise.resolve();
  const erase = (deviceIds: string[]) => {
    const next = running.then(async () => {
      const report = await opts.lake.erase(deviceIds);
      await db.updateTable('erased_devices').set({ lake_erased_at: new Date() }).where('device_id', 'in', deviceIds).execute();
      opts.logger.info({ devices: deviceIds.length, ...report }, 'devices erased from the lake');
      return { ...report };
    });
    running = next.catch(() => undefined);
    return next;
  };
  const timer = setInterval(() => {
    void (async () => {
      const pending = await db.selectFrom('erased_devices').select('device_id').where('lake_erased_at', 'is', null).execute();
      if (pending.length > 0) await erase(pending.map((p) => p.device_id));
    })().catch((err: unknown) => opts.logger.warn({ err }, 'pending lake erasures failed; retrying later'));
  }, PENDING_EVERY_MS);
  timer.unref();
  return {
    erase,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
