import type { NotifyChannel } from '../types.js';
import type { NotifyPayload } from './event.js';
import { NOTIFY_DEFAULTS } from './options.js';
import { signWebhook } from './signature.js';

export type WebhookChannel = Extract<NotifyChannel, { type: 'webhook' }>;

/** The reason a failed fetch gives: the socket error (`ECONNREFUSED …`) rather than "fetch failed". */
function fetchFailure(err: unknown, timeoutMs: number): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return `timeout after ${timeoutMs} ms`;
  if (err.name === 'AbortError') return 'aborted (notifier stopping)';
  const cause = err.cause as { message?: unknown } | undefined;
  return typeof cause?.message === 'string' ? cause.message : err.message;
}

/**
 * POSTs one delivery, signed (see signature.ts). The timestamp is the wall clock: it is for the
 * receiver's replay check, not for scheduling. Any 2xx is success; anything else (including a
 * redirect, which is not followed) throws with a short reason.
 */
export async function sendWebhook(ch: WebhookChannel, delivery: { id: string; attempt: number; payload: NotifyPayload }, stop: AbortSignal): Promise<void> {
  const { escalation, ...alert } = delivery.payload;
  const body = JSON.stringify({ delivery: delivery.id, attempt: delivery.attempt, escalation, alert });
  const timestamp = Math.floor(Date.now() / 1000);
  const timeoutMs = ch.timeoutMs ?? NOTIFY_DEFAULTS.webhookTimeoutMs;
  let res: Response;
  try {
    res = await fetch(ch.url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/json',
        'x-strata-delivery': delivery.id,
        'x-strata-timestamp': String(timestamp),
        'x-strata-signature': signWebhook(ch.secret, timestamp, body),
      },
      body,
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stop]),
    });
  } catch (err) {
    throw new Error(fetchFailure(err, timeoutMs));
  }
  await res.body?.cancel().catch(() => undefined);
  if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
}
