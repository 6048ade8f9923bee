/**
 * Reads one partition (one JetStream stream) in order, from a sequence on, into a buffer.
 *
 * It owns an ephemeral pull consumer (ack none, memory, R1, deleted by the server after
 * `consumerIdleMs` without pulls) and asks it for batches with plain NATS publishes to
 * `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` whose reply subject `<inbox>.<pull>` is its own
 * subscription (records arrive under their original subject, so only statuses name the pull).
 * At most one pull is in flight.
 *
 * Invariants (what makes it an "ordered" reader):
 * - `nextSeq` is the sequence the next buffered record must have at least; a message below it is
 *   dropped, one above it means the records in between are gone from the stream (retention).
 * - Every message of the consumer carries the consumer's own sequence in its reply subject; one
 *   that is not the next means messages were lost on the way (reconnect, a lost pull): the
 *   consumer is dropped and a new one starts at `nextSeq`, so nothing is skipped.
 * - A pull that gets no answer within its wait + `pullGraceMs` (the consumer vanished: idle,
 *   server restart) is presumed lost and the consumer is recreated the same way.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '@strata/core';
import type { StreamRecord } from '../../types.js';
import { decodeRecord } from './record-codec.js';

export interface FetcherEnv {
  nc: NatsConnection;
  jsm: JetStreamManager;
  logger: Logger;
  readers: Readers;
  /** Extra wait for the end of a pull before it is presumed lost. */
  pullGraceMs: number;
  /** The server deletes a consumer that had no pull for this long. */
  consumerIdleMs: number;
}

/** The open fetchers of an engine. */
export class Readers {
  private readonly open = new Set<PartitionFetcher>();

  add(f: PartitionFetcher): void {
    this.open.add(f);
  }

  delete(f: PartitionFetcher): void {
    this.open.delete(f);
  }

  /** Every fetcher starts over with a new consumer (after a reconnect, pulls may have been lost). */
  resetAll(): void {
    for (const f of this.open) f.reset('reconnected');
  }

  closeAll(): void {
    for (const f of [...this.open]) f.close();
  }
}

interface Pull {
  id: number;
  remaining: number;
  timer: NodeJS.Timeout | null;
  done: Promise<void>;
  finish(): void;
}

/**
 * What the reply subject of a delivered message says:
 * `$JS.ACK.<stream>.<consumer>.<times delivered>.<stream seq>.<consumer seq>.<time ns>.<pending>`.
 */
export function parseAckSubject(reply: string): { consumer: string; consumerSeq: number; seq: number; timeMs: number } | null {
  const t = reply.split('.');
  // v1 has 9 tokens; v2 adds domain and account hash after `$JS.ACK` (and maybe a random token at the end).
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (base < 0 || t[0] !== '$JS' || t[1] !== 'ACK') return null;
  const ns = t[base + 5]!;
  return {
    consumer: t[base + 1]!,
    seq: Number(t[base + 3]),
    consumerSeq: Number(t[base + 4]),
    timeMs: ns.length > 6 ? Number(ns.slice(0, -6)) : 0,
  };
}

export class PartitionFetcher {
  private buffer: StreamRecord[] = [];
  private head = 0;
  nextSeq: number;
  /** A message that is not a Strata record stops the reader here (STRATA_ERR_STREAM_CORRUPT). */
  corrupt: { seq: number; reason: string } | null = null;
  /** Why the last pull failed (cleared by the next good one). */
  error: Error | null = null;
  private consumer: string | null = null;
  private creating: Promise<string> | null = null;
  private expectedDelivery = 1;
  private lastPullAt = 0;
  private pull: Pull | null = null;
  private pullCount = 0;
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private closed = false;

  constructor(
    private readonly env: FetcherEnv,
    readonly stream: string,
    readonly topic: string,
    readonly partition: number,
    startSeq: number,
    /** Called when records arrive or a pull ends (wakes long polls). */
    private readonly onEvent: () => void,
    /** Called when records between two sequences were gone (deleted by retention) before they were read. */
    private readonly onGap: (fromOffset: number, toOffset: number) => void = () => undefined,
  ) {
    this.nextSeq = Math.max(1, startSeq);
    this.sub = env.nc.subscribe(`${this.inbox}.*`, {
      callback: (_err, msg) => this.onMessage(msg, msg.reply ? 0 : Number(msg.subject.slice(this.inbox.length + 1))),
    });
    env.readers.add(this);
  }

  get buffered(): number {
    return this.buffer.length - this.head;
  }

  get pulling(): boolean {
    return this.pull !== null;
  }

  /** Up to `max` buffered records, in offset order. */
  take(max: number): StreamRecord[] {
    const n = Math.min(max, this.buffer.length - this.head);
    if (n <= 0) return [];
    const out = this.buffer.slice(this.head, this.head + n);
    this.head += n;
    if (this.head === this.buffer.length) {
      this.buffer = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.buffer = this.buffer.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /**
   * Asks for up to `batch` more records unless a pull is in flight; waits up to `waitMs` on the
   * server for them (0: only what is there now). Resolves when that pull ends (never rejects:
   * a failure is left in `error`).
   */
  fetch(batch: number, waitMs: number): Promise<void> {
    if (this.pull) return this.pull.done;
    if (this.closed || this.corrupt) return Promise.resolve();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const pull: Pull = { id: ++this.pullCount, remaining: batch, timer: null, done, finish: () => undefined };
    pull.finish = () => {
      if (this.pull === pull) this.pull = null;
      if (pull.timer) clearTimeout(pull.timer);
      finish();
      this.onEvent();
    };
    this.pull = pull;
    void this.startPull(pull, batch, waitMs);
    return done;
  }

  private async startPull(pull: Pull, batch: number, waitMs: number): Promise<void> {
    let consumer: string;
    try {
      consumer = await this.ensureConsumer();
    } catch (err) {
      this.error = err instanceof Error ? err : new Error(String(err));
      pull.finish();
      return;
    }
    if (this.pull !== pull || this.closed) {
      pull.finish();
      return;
    }
    // Below ~10 ms a wait is not worth a timer on the server: take what is there.
    const body = waitMs >= 10 ? { batch, expires: waitMs * 1_000_000 } : { batch, no_wait: true };
    this.lastPullAt = Date.now();
    try {
      this.env.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${consumer}`, JSON.stringify(body), { reply: `${this.inbox}.${pull.id}` });
    } catch (err) {
      this.error = err instanceof Error ? err : new Error(String(err));
      pull.finish();
      return;
    }
    const limitMs = ('expires' in body ? waitMs : 0) + this.env.pullGraceMs;
    pull.timer = setTimeout(() => {
      if (this.pull !== pull) return;
      this.env.logger.debug({ stream: this.stream, consumer }, 'stream pull got no answer; recreating its consumer');
      this.error = new Error(`no answer from JetStream within ${limitMs} ms`);
      this.dropConsumer();
      pull.finish();
    }, limitMs);
  }

  private ensureConsumer(): Promise<string> {
    if (this.consumer !== null && Date.now() - this.lastPullAt < this.env.consumerIdleMs / 2) return Promise.resolve(this.consumer);
    if (this.consumer !== null) this.dropConsumer(); // close to being deleted by the server for idleness
    this.creating ??= (async () => {
      try {
        const info = await this.env.jsm.consumers.add(this.stream, {
          ack_policy: AckPolicy.None,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: this.nextSeq,
          mem_storage: true,
          num_replicas: 1,
          inactive_threshold: this.env.consumerIdleMs * 1_000_000,
        });
        if (this.closed) {
          void this.env.jsm.consumers.delete(this.stream, info.name).catch(() => undefined);
          throw new Error('reader closed');
        }
        this.consumer = info.name;
        this.expectedDelivery = 1;
        this.lastPullAt = Date.now();
        return info.name;
      } finally {
        this.creating = null;
      }
    })();
    return this.creating;
  }

  /** Forgets the consumer (deleted in the background); the next pull makes a new one at `nextSeq`. */
  private dropConsumer(): void {
    const old = this.consumer;
    this.consumer = null;
    if (old !== null) void this.env.jsm.consumers.delete(this.stream, old).catch(() => undefined);
  }

  /** Starts over with a new consumer at `nextSeq` (buffered records stay). */
  reset(reason: string): void {
    this.env.logger.debug({ stream: this.stream, reason }, 'stream reader starts a new consumer');
    this.dropConsumer();
    this.pull?.finish();
  }

  private onMessage(msg: Msg, statusPullId: number): void {
    if (this.closed) return;
    const pull = this.pull;
    if (!msg.reply) {
      // A status: 404 no messages / 408 request expired end the pull; 409 is a refused or
      // cancelled pull (consumer deleted, leadership change, too many pulls); 100 is a heartbeat.
      const code = msg.headers?.code ?? 0;
      if (!pull || pull.id !== statusPullId || code === 100) return;
      if (code === 409) {
        const description = msg.headers?.description ?? '';
        if (/deleted/i.test(description)) this.consumer = null;
        else this.error = new Error(`pull refused: ${description}`);
      } else if (code === 404 || code === 408) {
        this.error = null;
      } else {
        this.error = new Error(`pull failed: ${code} ${msg.headers?.description ?? ''}`);
        this.dropConsumer();
      }
      pull.finish();
      return;
    }
    const ack = parseAckSubject(msg.reply);
    if (!ack || ack.consumer !== this.consumer || this.corrupt) return; // from a consumer dropped since
    if (ack.consumerSeq !== this.expectedDelivery) {
      this.reset(`delivery ${ack.consumerSeq} came where ${this.expectedDelivery} was due`);
      return;
    }
    this.expectedDelivery++;
    const pullDone = pull !== null && --pull.remaining <= 0;
    this.accept(ack.seq, ack.timeMs, msg.data);
    if (pullDone) pull.finish();
  }

  private accept(seq: number, timeMs: number, data: Uint8Array): void {
    if (seq < this.nextSeq) return;
    if (seq > this.nextSeq) this.onGap(this.nextSeq - 1, seq - 1);
    const decoded = decodeRecord(data);
    if (typeof decoded === 'string') {
      this.corrupt = { seq, reason: decoded };
      this.nextSeq = seq;
      this.onEvent();
      return;
    }
    const record: StreamRecord = {
      topic: this.topic,
      partition: this.partition,
      offset: seq - 1,
      key: decoded.key,
      value: decoded.value,
      ts: decoded.ts ?? timeMs,
      appendTime: timeMs,
    };
    if (decoded.id !== undefined) record.id = decoded.id;
    this.buffer.push(record);
    this.nextSeq = seq + 1;
    this.error = null;
    this.onEvent();
  }

  /** Stops reading; the consumer is deleted in the background (or by the server when idle). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sub.unsubscribe();
    this.env.readers.delete(this);
    this.dropConsumer();
    this.pull?.finish();
    this.buffer = [];
    this.head = 0;
  }
}
