/**
 * Moves alert events from the outbox (written in the same transaction as the alert change) to
 * the `alerts` topic, oldest first, then deletes them. A crash between the append and the delete
 * appends them again on restart with the same ids, which the topic's dedup window drops: alert
 * events reach the topic at least once and, within the window, exactly once.
 *
 * The rules role hands the events it just committed to `publish()`, which appends them at once
 * (no outbox round trip on an alert's way out) and deletes their rows afterwards; `poke()` asks
 * for a pass over the outbox now; a poll catches what other processes (the API's acknowledge and
 * resolve) queued, and what a failed direct append left.
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

const toRecord = (event: AlertEvent) => ({ key: event.device, id: event.id, ts: Date.parse(event.ts), value: Buffer.from(JSON.stringify(event)) });

export class OutboxPublisher {
  private readonly opts: Required<Omit<OutboxPublisherOptions, 'logger'>> & { logger: Logger };
  private readonly sleeps = new Sleeps();
  private stopped = false;
  private poked = false;
  private failing = false;
  private readonly loop: Promise<void>;
  /** Outbox rows being appended by `publish()` (the poll leaves them), and those appended, to delete. */
  private readonly inFlight = new Set<number>();
  private appended: number[] = [];
  private direct: Promise<void> = Promise.resolve();
  published = 0;

  constructor(opts: OutboxPublisherOptions) {
    this.opts = { pollMs: 500, logger: silentLogger, ...opts };
    this.loop = this.run();
  }

  /** Appends events just committed to the outbox (rows `seqs`), in order, without reading them back. */
  publish(events: readonly AlertEvent[], seqs: readonly number[]): void {
    for (const seq of seqs) this.inFlight.add(seq);
    this.direct = this.direct.then(async () => {
      try {
        await this.opts.stream.append(this.opts.topic, events.map(toRecord));
        this.published += events.length;
        this.appended.push(...seqs);
      } catch (err) {
        this.opts.logger.warn({ err }, 'appending alert events failed; the outbox has them');
      } finally {
        for (const seq of seqs) this.inFlight.delete(seq);
        this.poke(); // delete what was appended, or retry from the outbox
      }
    });
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

  /** Deletes the rows `publish()` appended, then publishes one batch of the others; true when the outbox may hold more. */
  private async publishBatch(): Promise<boolean> {
    if (this.appended.length > 0) {
      const done = this.appended;
      this.appended = [];
      await this.opts.db.kysely.deleteFrom('alert_outbox').where('seq', 'in', done).execute().catch((err: unknown) => {
        this.appended.push(...done);
        throw err;
      });
    }
    const rows = (await this.opts.db.kysely.selectFrom('alert_outbox').select(['seq', 'event']).orderBy('seq').limit(BATCH).execute()).filter((r) => !this.inFlight.has(r.seq));
    if (rows.length === 0) return false;
    await this.opts.stream.append(this.opts.topic, rows.map((r) => toRecord(r.event as unknown as AlertEvent)));
    await this.opts.db.kysely.deleteFrom('alert_outbox').where('seq', 'in', rows.map((r) => r.seq)).execute();
    this.published += rows.length;
    return rows.length === BATCH;
  }

  /** Publishes what is queued (best effort), then stops. */
  async stop(): Promise<void> {
    await this.direct;
    this.poke();
    this.stopped = true;
    this.sleeps.wakeAll();
    await this.loop;
    await this.publishBatch().catch(() => undefined);
  }
}
