/**
 * JetStream publishes with many in flight: each message is a plain NATS publish whose reply
 * subject is `<inbox>.<batch>.<index>` on one wildcard subscription, and the PubAck (or error)
 * that comes back fills result `index` of its batch; the batch settles once every message has
 * an answer or its deadline passed. One timer sweeps expired batches (kept in send order, so the
 * sweep stops at the first live one). The client library's `js.publish` (a request with its own
 * timer and promise per message) measured ~14k msg/s here; this path does several times that.
 */
import { createInbox, headers, type Msg, type NatsConnection, type PublishOptions, type Subscription } from '@nats-io/transport-node';

/** Why a publish failed: decides the Strata error (FULL for limits, IO for the rest). */
export type PublishFailure = 'full' | 'storage-full' | 'no-responders' | 'timeout' | 'rejected' | 'closed';

export class PublishError extends Error {
  constructor(
    readonly kind: PublishFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface PubAck {
  seq: number;
  duplicate: boolean;
}

export interface OutgoingMessage {
  subject: string;
  payload: Uint8Array;
  /** JetStream dedup id (`Nats-Msg-Id`), if any. */
  msgId: string | undefined;
}

interface Batch {
  results: (PubAck | PublishError | undefined)[];
  remaining: number;
  deadline: number;
  settle(): void;
}

interface PubAckJson {
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

const SEQ = /"seq":\s*(\d+)/;
const DUPLICATE = /"duplicate":\s*true/;

export class Publisher {
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private readonly batches = new Map<number, Batch>();
  private next = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.sub = nc.subscribe(`${this.inbox}.*.*`, { callback: (_err, msg) => this.onReply(msg) });
  }

  /** Publishes `messages` in order, all in flight at once; resolves with one result per message (never rejects). */
  publish(messages: OutgoingMessage[]): Promise<(PubAck | PublishError)[]> {
    if (messages.length === 0) return Promise.resolve([]);
    if (this.closed) return Promise.resolve(messages.map(() => new PublishError('closed', 'publisher closed')));
    const id = ++this.next;
    return new Promise((resolve) => {
      const batch: Batch = {
        results: new Array(messages.length),
        remaining: messages.length,
        deadline: Date.now() + this.timeoutMs,
        settle: () => {
          this.batches.delete(id);
          resolve(batch.results as (PubAck | PublishError)[]);
        },
      };
      this.batches.set(id, batch);
      const prefix = `${this.inbox}.${id}.`;
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const opts: Partial<PublishOptions> = { reply: prefix + i };
        if (m.msgId !== undefined) {
          const h = headers();
          h.set('Nats-Msg-Id', m.msgId);
          opts.headers = h;
        }
        try {
          this.nc.publish(m.subject, m.payload, opts);
        } catch (err) {
          // Not sent: this one and the rest fail now.
          for (let j = i; j < messages.length; j++) this.answer(batch, j, new PublishError('closed', err instanceof Error ? err.message : String(err)));
          return;
        }
      }
      this.timer ??= setTimeout(() => this.sweep(), this.timeoutMs);
    });
  }

  private answer(batch: Batch, index: number, result: PubAck | PublishError): void {
    if (batch.results[index] !== undefined) return;
    batch.results[index] = result;
    if (--batch.remaining === 0) batch.settle();
  }

  private onReply(msg: Msg): void {
    const rest = msg.subject.slice(this.inbox.length + 1);
    const dot = rest.indexOf('.');
    const batch = this.batches.get(Number(rest.slice(0, dot)));
    if (!batch) return; // timed out already
    this.answer(batch, Number(rest.slice(dot + 1)), parseAck(msg));
  }

  private sweep(): void {
    this.timer = null;
    const now = Date.now();
    for (const batch of this.batches.values()) {
      if (batch.deadline > now) {
        this.timer = setTimeout(() => this.sweep(), batch.deadline - now);
        return;
      }
      const timeout = new PublishError('timeout', `no acknowledgement within ${this.timeoutMs} ms`);
      for (let i = 0; i < batch.results.length; i++) if (batch.results[i] === undefined) this.answer(batch, i, timeout);
    }
  }

  /** Fails every publish still waiting (their messages may or may not have been stored). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const closed = new PublishError('closed', 'publisher closed');
    for (const batch of [...this.batches.values()]) {
      for (let i = 0; i < batch.results.length; i++) if (batch.results[i] === undefined) this.answer(batch, i, closed);
    }
    this.sub.unsubscribe();
  }
}

const decoder = new TextDecoder();

/** A PubAck, parsed without JSON.parse on the common path (`{"stream":"s", "seq":1}`). */
function parseAck(msg: Msg): PubAck | PublishError {
  if (msg.data.length === 0) {
    const code = msg.headers?.code ?? 0;
    if (code === 503) return new PublishError('no-responders', 'no JetStream responders (stream unavailable or has no leader)');
    return new PublishError('rejected', `status ${code} ${msg.headers?.description ?? ''}`.trim());
  }
  const text = decoder.decode(msg.data);
  if (!text.includes('"error"')) {
    const seq = SEQ.exec(text);
    if (seq) return { seq: Number(seq[1]), duplicate: DUPLICATE.test(text) };
  }
  let ack: PubAckJson;
  try {
    ack = JSON.parse(text) as PubAckJson;
  } catch {
    return new PublishError('rejected', 'unreadable acknowledgement');
  }
  if (ack.error) {
    const description = ack.error.description ?? `error ${ack.error.err_code ?? ack.error.code ?? '?'}`;
    return new PublishError(classify(ack.error.err_code, description), description);
  }
  return new PublishError('rejected', 'acknowledgement without a sequence');
}

/** JetStream's store errors (JSStreamStoreFailedF 10077 and friends) by their description. */
function classify(errCode: number | undefined, description: string): PublishFailure {
  if (/maximum (bytes|messages) exceeded/i.test(description)) return 'full';
  if (errCode === 10047 || /insufficient (storage )?resources|resources exceeded/i.test(description)) return 'storage-full';
  return 'rejected';
}
