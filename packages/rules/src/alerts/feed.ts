/**
 * Live alert events for `GET /v1/alerts/stream`: tails the alerts topic from its end, while
 * someone listens, and hands each event to the subscribers whose filter takes it.
 *
 * The tail is a consumer group of its own per feed (`alerts-feed-<random>`, started at the
 * topic's end by the first subscriber, never committing, so it leaves nothing on disk). Its reads
 * long-poll, so an event reaches subscribers as soon as it is durable on the topic. Memory is
 * bounded per subscriber (core's Subscription).
 */
import { randomUUID } from 'node:crypto';
import { Subscription, silentLogger, type Logger } from '@strata/core';
import type { Consumer, Stream } from '@strata/stream';
import type { AlertEvent } from '../types.js';

/** A subscriber's queue of the alert events its filter takes. */
export class FeedSubscription extends Subscription<AlertEvent> {
  constructor(
    readonly accepts: (e: AlertEvent) => boolean,
    maxQueued: number,
    onEnd: (sub: FeedSubscription) => void,
  ) {
    super(maxQueued, onEnd as (sub: Subscription<AlertEvent>) => void);
  }

  push(e: AlertEvent): void {
    if (this.accepts(e)) this.offer(e);
  }
}

export interface AlertFeedOptions {
  stream: Stream;
  topic: string;
  logger?: Logger;
  /** Events queued for one subscriber before it is dropped as too slow. Default 1000. */
  maxQueued?: number;
}

export class AlertFeed {
  private readonly subs = new Set<FeedSubscription>();
  private consumer: Promise<Consumer> | undefined;
  private loop: Promise<void> | undefined;
  private closed = false;
  private readonly logger: Logger;

  constructor(private readonly opts: AlertFeedOptions) {
    this.logger = opts.logger ?? silentLogger;
  }

  /** Starts receiving the events appended from now on that `accepts` takes. */
  async subscribe(accepts: (e: AlertEvent) => boolean): Promise<FeedSubscription> {
    const sub = new FeedSubscription(accepts, this.opts.maxQueued ?? 1000, (s) => this.subs.delete(s));
    if (this.closed) {
      sub.end('shutdown');
      return sub;
    }
    this.subs.add(sub);
    if (!this.consumer) {
      // A new group starts at the topic's end: what is appended from now on is delivered.
      this.consumer = this.opts.stream.consumer({ topic: this.opts.topic, group: `alerts-feed-${randomUUID()}`, from: 'latest' });
      this.loop = this.consumer.then((c) => this.pump(c));
    }
    await this.consumer;
    return sub;
  }

  private dispatch(records: { value: Buffer }[]): void {
    for (const r of records) {
      let e: AlertEvent;
      try {
        e = JSON.parse(r.value.toString('utf8')) as AlertEvent;
      } catch {
        continue;
      }
      for (const s of this.subs) s.push(e);
    }
  }

  private async pump(c: Consumer): Promise<void> {
    while (!this.closed) {
      try {
        this.dispatch(await c.read({ maxRecords: 1000, maxWaitMs: 500 }));
      } catch (err) {
        if (this.closed) break;
        this.logger.warn({ err }, 'reading the alerts topic failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    await c.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of [...this.subs]) s.end('shutdown');
    await this.loop;
  }
}
