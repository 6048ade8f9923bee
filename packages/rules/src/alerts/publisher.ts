/**
 * Moves alert events from the outbox (written in the same transaction as the alert change) to
 * the `alerts` topic, oldest first, then deletes them. A crash between the append and the delete
 * appends them again on restart with the same ids, which the topic's dedup window drops: alert
 * events reach the topic at least once and, within the window, exactly once.
 *
 * `poke()` after a commit publishes at once; a poll catches what other processes (the API's
 * acknowledge and resolve) queued.
 */
import { Sleeps, silentLogger, type Logger } from '@strata/core';
import type { Db } from '@strata/db';
import type { Stream } from '@strata/stream';
import type { AlertEvent } from '../types.js';

export interface OutboxPublisherOptions {
  db: Db;
  stream: Stream;
  topic: string;
  /** How often the outbox is checked without a poke. Default 500 ms. */
  pollMs?: number;
  logger?: Logger;
}

const BATCH = 1000;

export class OutboxPublisher {
  private readonly opts: Required<Omit<OutboxPublisherOptions, 'logger'>> & { logger: Logger };
  private readonly sleeps = new Sleeps();
  private stopped = false;
  private poked = false;
  private failing = false;
  private readonly loop: Promise<void>;
  published = 0;

  constructor(opts: OutboxPublisherOptions) {
    this.opts = { pollMs: 500, logger: silentLogger, ...opts };
    this.loop = this.run();
  }

  /** Publish now: something was just queued. */
  poke(): void {
    this.poked = true;
    this.sleeps.wakeAll();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.poked = false;
      let more = false;
      try {
        more = await this.publishBatch();
        if (this.failing) this.opts.logger.info({}, 'alert events are being published again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.opts.logger.warn({ err }, 'publishing alert events failed; retrying');
        this.failing = true;
      }
      if (!more && !this.poked && !this.stopped) await this.sleeps.sleep(this.failing ? this.opts.pollMs * 4 : this.opts.pollMs);
    }
  }

  /** Publishes one batch; true when the outbox may hold more. */
  private async publishBatch(): Promise<boolean> {
    const rows = await this.opts.db.kysely.selectFrom('alert_outbox').select(['seq', 'event']).orderBy('seq').limit(BATCH).execute();
    if (rows.length === 0) return false;
    await this.opts.stream.append(
      this.opts.topic,
      rows.map((r) => {
        const event = r.event as unknown as AlertEvent;
        return { key: event.device, id: event.id, ts: Date.parse(event.ts), value: Buffer.from(JSON.stringify(event)) };
      }),
    );
    await this.opts.db.kysely.deleteFrom('alert_outbox').where('seq', '<=', rows[rows.length - 1]!.seq).execute();
    this.published += rows.length;
    return rows.length === BATCH;
  }

  /** Publishes what is queued (best effort), then stops. */
  async stop(): Promise<void> {
    this.poke();
    this.stopped = true;
    this.sleeps.wakeAll();
    await this.loop;
    await this.publishBatch().catch(() => undefined);
  }
}
