import { storageErrors } from './errors.js';

/** The operations a store has in flight: refused after close, and awaited by close. */
export class Inflight {
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();

  /** Throws STRATA_ERR_STORAGE_CLOSED after `close()`. */
  ensureOpen(): void {
    if (this.closed) throw storageErrors.STRATA_ERR_STORAGE_CLOSED();
  }

  /** Runs `op` unless closed (then a rejected promise), tracked until it settles. */
  run<T>(op: () => Promise<T>): Promise<T> {
    let promise: Promise<T>;
    try {
      this.ensureOpen();
      promise = op();
    } catch (err) {
      return Promise.reject(err);
    }
    this.running.add(promise);
    const done = (): void => {
      this.running.delete(promise);
    };
    promise.then(done, done);
    return promise;
  }

  /** Refuses new operations; resolves once those in flight have settled. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
  }
}
