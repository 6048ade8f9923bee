import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from './signature.js';

describe('webhook signatures', () => {
  const body = '{"delivery":"d1","attempt":1}';
  const ts = 1_900_000_000;

  it('signs as sha256=<hex HMAC of "timestamp.body">, verifiable by the receiver', () => {
    const header = signWebhook('s3cret', ts, body);
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhook('s3cret', header, ts, body, 300, ts + 10)).toBe(true);
  });

  it('refuses another body, secret or timestamp, a stale timestamp and malformed headers', () => {
    const header = signWebhook('s3cret', ts, body);
    expect(verifyWebhook('s3cret', header, ts, `${body} `, 300, ts)).toBe(false);
    expect(verifyWebhook('other', header, ts, body, 300, ts)).toBe(false);
    expect(verifyWebhook('s3cret', header, ts + 1, body, 300, ts)).toBe(false);
    expect(verifyWebhook('s3cret', header, ts, body, 300, ts + 301)).toBe(false);
    expect(verifyWebhook('s3cret', undefined, ts, body, 300, ts)).toBe(false);
    expect(verifyWebhook('s3cret', 'sha256=abc', ts, body, 300, ts)).toBe(false);
    expect(verifyWebhook('s3cret', header.replace('sha256', 'sha1'), ts, body, 300, ts)).toBe(false);
  });
});
