import type { PassThrough } from 'node:stream';
import type { Subscription } from '@strata/core';

/**
 * Copies a subscription's items to a Server-Sent Events response until either ends: `format`
 * gives each item's block, a comment line goes out when nothing came for `heartbeatMs`, and the
 * stream stops once `stillAllowed` says the caller's access ended.
 */
export async function pumpEvents<T>(sub: Subscription<T>, out: PassThrough, heartbeatMs: number, stillAllowed: () => boolean, format: (item: T) => string): Promise<void> {
  let wake: (() => void) | undefined;
  void sub.ended.then(() => wake?.());
  for (;;) {
    const batch = await sub.take(heartbeatMs);
    if (batch === undefined || out.destroyed || out.writableEnded || !stillAllowed()) break;
    const text = batch.length === 0 ? ': heartbeat\n\n' : batch.map(format).join('');
    if (!out.write(text)) {
      // Wait for the client to read, or for the subscription to end (too slow for the hub's queue, shutdown, gone).
      await new Promise<void>((resolve) => {
        wake = resolve;
        out.once('drain', resolve);
      });
      out.off('drain', wake!);
      wake = undefined;
      if (sub.endReason !== undefined) break;
    }
  }
  // A subscriber dropped as too slow loses its connection; any other end is a clean end of stream.
  if (sub.endReason === 'overflow') out.destroy();
  else out.end();
  sub.close();
}
