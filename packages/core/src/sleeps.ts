/**
 * Sleeps that a stop can cut short: background loops (delivery, the state consumer) back off
 * between retries, and shutdown must not wait out a 30 s backoff.
 */
export class Sleeps {
  readonly #waking = new Set<() => void>();

  /** Resolves after `ms`, or at once when `wakeAll` is called meanwhile. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#waking.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#waking.add(wake);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.#waking]) wake();
  }
}
