import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Subscription } from '@strata/core';
import type { AuthDirectory, Caller } from '@strata/auth';

export interface EventStreamOptions<T> {
  /** Comment lines sent when nothing came for this long, so proxies keep the connection. */
  heartbeatMs: number;
  /** Asked at every batch and heartbeat: access granted at the start is not granted forever. */
  stillAllowed: () => boolean;
  /** The SSE block of one item. */
  format: (item: T) => string;
}

/**
 * Server-Sent Events of subscriptions, for the routes of one plugin. Streams end on client
 * disconnect, when `stillAllowed` says no, and, before the server stops waiting for requests, on
 * shutdown (`preClose`: an `onClose` hook would only run after every open request had finished,
 * i.e. never).
 */
export function eventStreams(app: FastifyInstance): <T>(reply: FastifyReply, sub: Subscription<T>, opts: EventStreamOptions<T>) => FastifyReply {
  const open = new Set<{ sub: Subscription<unknown>; out: PassThrough }>();
  app.addHook('preClose', (done) => {
    for (const s of open) {
      s.sub.close();
      s.out.end();
    }
    done();
  });
  return (reply, sub, opts) => {
    const out = new PassThrough();
    const stream = { sub: sub as Subscription<unknown>, out };
    open.add(stream);
    // Fastify destroys the body when the client goes away: that ends the subscription.
    out.once('close', () => {
      open.delete(stream);
      sub.close();
    });
    // The first bytes send the headers: the client knows it is subscribed.
    out.write(': subscribed\n\n');
    void pumpEvents(sub, out, opts.heartbeatMs, opts.stillAllowed, opts.format);
    return reply.header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-cache, no-transform').header('x-accel-buffering', 'no').send(out);
  };
}

/**
 * Whether the caller of `req` may still do what `check` asks: the credential has not expired, and
 * its key or user, looked up again (revoked, disabled, role changed), still passes.
 */
export function stillAllowed(req: FastifyRequest, caller: Caller, directory: AuthDirectory, check: (now: Caller) => boolean): () => boolean {
  const expiresAt = req.credentialExpiresAt;
  return () => {
    if (expiresAt !== undefined && Date.now() >= expiresAt) return false;
    const now = caller.kind === 'user' ? directory.userCaller(caller.id) : directory.keyCaller(caller.id);
    return now !== undefined && check(now);
  };
}

/**
 * Copies a subscription's items to a Server-Sent Events response until either ends: `format`
 * gives each item's block, a comment line goes out when nothing came for `heartbeatMs`, and the
 * stream stops once `stillAllowed` says the caller's access ended.
 */
async function pumpEvents<T>(sub: Subscription<T>, out: PassThrough, heartbeatMs: number, stillAllowed: () => boolean, format: (item: T) => string): Promise<void> {
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
