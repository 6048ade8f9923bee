/**
 * Webhook signatures, Stripe-style: `x-strata-signature: sha256=<hex HMAC-SHA256(secret,
 * "<timestamp>.<body>")>` with `x-strata-timestamp: <unix seconds>`. Binding the timestamp into
 * the MAC lets a receiver refuse replays older than its tolerance.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const mac = (secret: string, timestampSeconds: number, body: string): Buffer =>
  createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest();

/** The `x-strata-signature` header value for a body sent at `timestampSeconds`. */
export function signWebhook(secret: string, timestampSeconds: number, body: string): string {
  return `sha256=${mac(secret, timestampSeconds, body).toString('hex')}`;
}

/**
 * True when `header` is the signature of `body` at `timestampSeconds` and that timestamp is
 * within `toleranceSeconds` of `nowSeconds` (default: the wall clock). Constant-time compare.
 */
export function verifyWebhook(
  secret: string,
  header: string | undefined,
  timestampSeconds: number,
  body: string,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  if (!header || !Number.isSafeInteger(timestampSeconds)) return false;
  if (Math.abs(nowSeconds - timestampSeconds) > toleranceSeconds) return false;
  const m = /^sha256=([0-9a-f]{64})$/.exec(header.trim());
  if (!m) return false;
  return timingSafeEqual(Buffer.from(m[1]!, 'hex'), mac(secret, timestampSeconds, body));
}
