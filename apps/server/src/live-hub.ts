/**
 * Live telemetry for the dashboard: tails the telemetry stream from its current end and fans
 * each event out to the subscribers of its device.
 *
 * Invariants:
 * - The hub reads the stream only while someone is subscribed, and only the partitions that hold
 *   a subscribed device (`partitionFor(device, partitions)`), polling every `pollMs`; a partition
 *   that becomes wanted starts at its end offset, so nothing old is replayed.
 * - A subscriber gets the events appended after `subscribe()` resolved (each subscription keeps
 *   the end offset it started from per partition), in stream order per device. Nothing is
 *   committed: the hub is not a consumer group and holds no state worth keeping.
 * - Record values are decoded (JSON) only for devices someone is subscribed to.
 * - Memory is bounded: each subscription queues at most `maxQueued` events; a subscriber that
 *   falls further behind is ended with reason `overflow` (its queue dropped), never buffered more.
 */
import { Subscription, type Logger, type TelemetryEvent } from '@strata/core';
import { partitionFor, type Stream, type StreamRecord } from '@strata/stream';

export interface LiveHubOptions {
  stream: Stream;
  topic: string;
  logger: Logger;
  /** How often the stream is polled while someone is subscribed. Default 150 ms. */
  pollMs?: number;
  /** Events queued for one subscriber before it is dropped as too slow. Default 1000. */
  maxQueued?: number;
}


/** Records read per partition per poll; a full batch polls again at once. */
const READ_BATCH = 1000;

/** One subscriber's view: the devices it follows and, per partition, the first offset it is owed. */
export class LiveSubscription extends Subscription<TelemetryEvent> {
  constructor(
    readonly devices: readonly string[],
    private readonly from: ReadonlyMap<number, number>,
    maxQueued: number,
    onEnd: (sub: LiveSubscription) => void,
  ) {
    super(maxQueued, onEnd as (sub: Subscription<TelemetryEvent>) => void);
  }

  /** @internal Queues an event from `partition` at `offset` unless it predates this subscription. */
  push(event: TelemetryEvent, partition: number, offset: number): void {
    if (offset >= (this.from.get(partition) ?? 0)) this.offer(event);
  }
}

export class LiveHub {
  readonly #stream: Stream;
  readonly #topic: string;
  readonly #logger: Logger;
  readonly #pollMs: number;
  readonly #maxQueued: number;
  readonly #byDevice = new Map<string, Set<LiveSubscription>>();
  /** Next offset to read, for the partitions that hold a subscribed device. */
  readonly #positions = new Map<number, number>();
  #partitions: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #failing = false;
  #closed = false;

  constructor(opts: LiveHubOptions) {
    this.#stream = opts.stream;
    this.#topic = opts.topic;
    this.#logger = opts.logger;
    this.#pollMs = opts.pollMs ?? 150;
    this.#maxQueued = opts.maxQueued ?? 1000;
  }

  /** Subscriptions open now. */
  get subscribers(): number {
    const all = new Set<LiveSubscription>();
    for (const subs of this.#byDevice.values()) for (const sub of subs) all.add(sub);
    return all.size;
  }

  /** Events of `devices` appended from now on. Rejects when the stream cannot be described. */
  async subscribe(devices: readonly string[]): Promise<LiveSubscription> {
    const info = await this.#stream.describe(this.#topic);
    if (this.#closed) throw new Error('live hub is closed');
    this.#partitions = info.partitions.length;
    const from = new Map<number, number>();
    for (const device of devices) {
      const p = partitionFor(device, info.partitions.length);
      const end = info.partitions.find((x) => x.partition === p)?.endOffset ?? 0;
      from.set(p, end);
      if (!this.#positions.has(p)) this.#positions.set(p, end);
    }
    const sub = new LiveSubscription([...new Set(devices)], from, this.#maxQueued, (s) => this.#remove(s));
    for (const device of sub.devices) {
      let subs = this.#byDevice.get(device);
      if (!subs) this.#byDevice.set(device, (subs = new Set()));
      subs.add(sub);
    }
    this.#schedule(this.#pollMs);
    return sub;
  }

  /** Ends every subscription (reason `shutdown`) and stops polling. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const subs of [...this.#byDevice.values()]) for (const sub of [...subs]) sub.end('shutdown');
    await this.#polling;
  }

  #remove(sub: LiveSubscription): void {
    for (const device of sub.devices) {
      const subs = this.#byDevice.get(device);
      subs?.delete(sub);
      if (subs?.size === 0) this.#byDevice.delete(device);
    }
    // Stop reading partitions nobody wants; one wanted again restarts at its end.
    const wanted = new Set([...this.#byDevice.keys()].map((d) => partitionFor(d, this.#partitions ?? 1)));
    for (const p of [...this.#positions.keys()]) if (!wanted.has(p)) this.#positions.delete(p);
    if (this.#byDevice.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#closed || this.#timer !== undefined || this.#polling !== undefined || this.#byDevice.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const polling = this.#poll();
      this.#polling = polling.then(() => undefined);
      void polling.then((more) => {
        this.#polling = undefined;
        this.#schedule(more ? 0 : this.#pollMs);
      });
    }, delayMs);
  }

  /** One pass over the wanted partitions; true when one returned a full batch (more is waiting). */
  async #poll(): Promise<boolean> {
    let more = false;
    try {
      for (const [partition, offset] of [...this.#positions]) {
        const records = await this.#stream.read(this.#topic, partition, offset, { maxRecords: READ_BATCH });
        // Dropped or restarted while we read: the newer position wins.
        if (this.#closed || this.#positions.get(partition) !== offset || records.length === 0) continue;
        this.#positions.set(partition, records.at(-1)!.offset + 1);
        if (records.length === READ_BATCH) more = true;
        for (const record of records) this.#dispatch(record);
      }
      if (this.#failing) this.#logger.info({ topic: this.#topic }, 'live hub reads the stream again');
      this.#failing = false;
    } catch (err) {
      // Subscribers keep their connections (heartbeats go on) and get events once reads work again.
      if (!this.#failing) this.#logger.warn({ err, topic: this.#topic }, 'live hub cannot read the stream; retrying');
      this.#failing = true;
    }
    return more;
  }

  #dispatch(record: StreamRecord): void {
    const subs = this.#byDevice.get(record.key);
    if (!subs) return;
    let event: TelemetryEvent;
    try {
      event = JSON.parse(record.value.toString('utf8')) as TelemetryEvent;
    } catch {
      this.#logger.debug({ partition: record.partition, offset: record.offset }, 'live hub skipped a record that is not JSON');
      return;
    }
    for (const sub of [...subs]) sub.push(event, record.partition, record.offset);
  }
}
