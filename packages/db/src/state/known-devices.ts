/**
 * The ids in `devices`, held in memory so the ingest path can ask `has(id)` without waiting for
 * the database (used when `devices.registration` is `known-only`: unknown devices get 403).
 * Reloaded every `refreshMs`; `add(id)` makes a device created by this process known at once.
 * While the database is down the last loaded set stays in use.
 */
import { silentLogger, type Logger } from '@strata/core';
import type { Db } from '../open.js';

export interface KnownDevicesOptions {
  db: Db;
  /** Reload period. Default 2 000 ms; 0 disables the timer (call `refresh()`). */
  refreshMs?: number;
  logger?: Logger;
}

export class KnownDevices {
  readonly #db: Db;
  readonly #logger: Logger;
  #ids = new Set<string>();
  /** Ids added while a reload runs: its snapshot may predate them. */
  #addedDuringReload: Set<string> | undefined;
  #reloading: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;

  private constructor(db: Db, logger: Logger) {
    this.#db = db;
    this.#logger = logger;
  }

  /** Loads the ids (an unreachable database leaves the set empty and is retried by the timer). */
  static async open(opts: KnownDevicesOptions): Promise<KnownDevices> {
    const known = new KnownDevices(opts.db, opts.logger ?? silentLogger);
    await known.refresh();
    const refreshMs = opts.refreshMs ?? 2000;
    if (refreshMs > 0) {
      known.#timer = setInterval(() => void known.refresh(), refreshMs);
      known.#timer.unref();
    }
    return known;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  add(id: string): void {
    this.#ids.add(id);
    this.#addedDuringReload?.add(id);
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Reloads the ids now; concurrent calls share one reload. Never rejects. */
  refresh(): Promise<void> {
    this.#reloading ??= this.#reload().finally(() => (this.#reloading = undefined));
    return this.#reloading;
  }

  async #reload(): Promise<void> {
    const added = new Set<string>();
    this.#addedDuringReload = added;
    try {
      const rows = await this.#db.kysely.selectFrom('devices').select('id').execute();
      const ids = new Set(rows.map((r) => r.id));
      for (const id of added) ids.add(id);
      this.#ids = ids;
      if (this.#failing) this.#logger.info({ devices: ids.size }, 'known devices reloaded: the database answers again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#logger.warn({ err }, 'known devices could not be reloaded; keeping the last loaded set');
      this.#failing = true;
    } finally {
      this.#addedDuringReload = undefined;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
