import { StrataError, type Logger } from '@strata/core';

/** An outage this long is logged again, as an error: an operator should look. */
const OUTAGE_ERROR_MS = 5 * 60_000;

/**
 * Logging for a background loop's failures: a warning when they start, debug while they last,
 * one error if they last five minutes, info when the loop works again.
 */
export class Outage {
  #since: number | undefined;
  #attempts = 0;
  #escalated = false;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  /** Records a failure; returns how many in a row (for the backoff). */
  failed(err: unknown): number {
    const fields = { err, ...(err instanceof StrataError && { code: err.code }), loop: this.what };
    const now = Date.now();
    this.#attempts++;
    if (this.#since === undefined) {
      this.#since = now;
      this.logger.warn(fields, `notifier ${this.what} failed; retrying with backoff`);
    } else if (!this.#escalated && now - this.#since >= OUTAGE_ERROR_MS) {
      this.#escalated = true;
      this.logger.error({ ...fields, failingForMs: now - this.#since }, `notifier ${this.what} still failing; alerts are not being notified`);
    } else {
      this.logger.debug({ ...fields, attempt: this.#attempts }, `notifier ${this.what} failed again`);
    }
    return this.#attempts;
  }

  recovered(): void {
    if (this.#since === undefined) return;
    this.logger.info({ loop: this.what, attempts: this.#attempts, downMs: Date.now() - this.#since }, `notifier ${this.what} works again`);
    this.#since = undefined;
    this.#attempts = 0;
    this.#escalated = false;
  }
}

/** Exponential backoff with jitter: a random delay in [d/2, d], d doubling from minMs to maxMs. */
export function loopBackoff(attempt: number, minMs: number, maxMs: number): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(d / 2 + (Math.random() * d) / 2);
}
