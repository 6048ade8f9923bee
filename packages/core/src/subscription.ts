/** Why a subscription ended: closed by its owner, too slow to keep up, or its source shut down. */
export type SubscriptionEndReason = 'closed' | 'overflow' | 'shutdown';

/**
 * One subscriber's bounded queue of live items (SSE feeds): the source `offer`s, the subscriber
 * `take`s (one taker at a time). A subscriber more than `maxQueued` items behind is ended with
 * `overflow` and its queue dropped, so a slow client never makes the server buffer without bound.
 * `ended` resolves with the reason once it is over, however that happened.
 */
export class Subscription<T> {
  readonly ended: Promise<SubscriptionEndReason>;
  #queue: T[] = [];
  #reason: SubscriptionEndReason | undefined;
  #wake: (() => void) | undefined;
  #resolveEnded!: (reason: SubscriptionEndReason) => void;

  constructor(
    private readonly maxQueued: number,
    private readonly onEnd: (sub: Subscription<T>) => void,
  ) {
    this.ended = new Promise((resolve) => (this.#resolveEnded = resolve));
  }

  /** The reason it ended, or undefined while it is live. */
  get endReason(): SubscriptionEndReason | undefined {
    return this.#reason;
  }

  /**
   * The items queued since the last call, waiting up to `waitMs` for one: `[]` when none came in
   * time, `undefined` once the subscription has ended (queued items are then dropped).
   */
  async take(waitMs: number): Promise<T[] | undefined> {
    if (this.#reason === undefined && this.#queue.length === 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, waitMs);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    if (this.#reason !== undefined) return undefined;
    const batch = this.#queue;
    this.#queue = [];
    return batch;
  }

  /** Queues an item for the subscriber (ending it with `overflow` when it is too far behind). */
  offer(item: T): void {
    if (this.#reason !== undefined) return;
    if (this.#queue.length >= this.maxQueued) return this.end('overflow');
    this.#queue.push(item);
    this.#wake?.();
  }

  end(reason: SubscriptionEndReason): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#queue = [];
    this.#wake?.();
    this.#resolveEnded(reason);
    this.onEnd(this);
  }

  close(): void {
    this.end('closed');
  }
}
