import { createHmac, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTokenSigner } from './jwt.js';

const secret = randomBytes(32);
const NOW = 1_750_000_000;
const TTL = 900;
const signer = createTokenSigner(secret, { ttlSeconds: TTL });
const alice = { sub: 'u-1', role: 'analyst', username: 'alice' } as const;

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token assembled by hand, so tests can forge what jose would refuse to produce. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, sign: (input: string) => string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${sign(input)}`;
}
const hmac = (hash: string, key: Uint8Array = secret) => (input: string) => createHmac(hash, key).update(input).digest('base64url');
const header = { alg: 'HS256', typ: 'at+jwt' };
const claims = { iss: 'strata', sub: 'u-1', role: 'analyst', username: 'alice', jti: 'j-1', iat: NOW, exp: NOW + TTL };

describe('createTokenSigner', () => {
  it('signs tokens that verify to their claims', async () => {
    const { token, expiresAt } = await signer.sign(alice, NOW);
    expect(expiresAt).toEqual(new Date((NOW + TTL) * 1000));
    expect(await signer.verify(token, NOW + 1)).toEqual({ ...alice, iss: 'strata', jti: expect.any(String), iat: NOW, exp: NOW + TTL });
    const second = await signer.sign(alice, NOW);
    expect((await signer.verify(second.token, NOW))?.jti).not.toBe((await signer.verify(token, NOW))?.jti);
  });

  it('accepts a hand-built HS256 token, so the forgeries below fail for the reason they name', async () => {
    expect(await signer.verify(forge(header, claims, hmac('sha256')), NOW)).toMatchObject({ sub: 'u-1', role: 'analyst' });
  });

  it('rejects expired tokens, allowing at most 5 s of clock skew', async () => {
    const { token } = await signer.sign(alice, NOW);
    expect(await signer.verify(token, NOW + TTL + 4)).toBeDefined();
    expect(await signer.verify(token, NOW + TTL + 6)).toBeUndefined();
  });

  it('rejects tokens issued in the future or longer-lived than the TTL', async () => {
    expect(await signer.verify(forge(header, { ...claims, iat: NOW + 60, exp: NOW + 60 + TTL }, hmac('sha256')), NOW)).toBeUndefined();
    expect(await signer.verify(forge(header, { ...claims, exp: NOW + 10 * TTL }, hmac('sha256')), NOW + 2 * TTL)).toBeUndefined();
  });

  it('rejects a token signed with another secret', async () => {
    const { token } = await createTokenSigner(randomBytes(32), { ttlSeconds: TTL }).sign(alice, NOW);
    expect(await signer.verify(token, NOW)).toBeUndefined();
  });

  it('rejects alg none', async () => {
    expect(await signer.verify(forge({ alg: 'none', typ: 'JWT' }, claims, () => ''), NOW)).toBeUndefined();
    expect(await signer.verify(forge({ alg: 'none', typ: 'at+jwt' }, claims, () => ''), NOW)).toBeUndefined();
  });

  it('rejects any algorithm but HS256, even with a valid signature', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs256 = (input: string) => createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
    const forged = [
      forge({ ...header, alg: 'HS512' }, claims, hmac('sha512')),
      forge({ ...header, alg: 'HS384' }, claims, hmac('sha384')),
      forge({ ...header, alg: 'RS256' }, claims, rs256),
      forge({ ...header, alg: 'RS256' }, claims, hmac('sha256')), // key confusion: HMAC under an RSA label
    ];
    for (const token of forged) expect(await signer.verify(token, NOW)).toBeUndefined();
  });

  it('rejects a tampered payload that keeps the old signature', async () => {
    const { token } = await signer.sign(alice, NOW);
    const [head, payload, signature] = token.split('.') as [string, string, string];
    const promoted = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), role: 'admin' };
    expect(await signer.verify(`${head}.${b64url(promoted)}.${signature}`, NOW)).toBeUndefined();
  });

  it('rejects a token from another issuer, or of another type', async () => {
    const { token } = await createTokenSigner(secret, { issuer: 'elsewhere', ttlSeconds: TTL }).sign(alice, NOW);
    expect(await signer.verify(token, NOW)).toBeUndefined();
    expect(await signer.verify(forge({ ...header, typ: 'JWT' }, claims, hmac('sha256')), NOW)).toBeUndefined();
  });

  it('rejects a token missing any claim it relies on, or with a role that does not exist', async () => {
    for (const missing of ['iss', 'sub', 'role', 'username', 'jti', 'iat', 'exp']) {
      const { [missing as keyof typeof claims]: _gone, ...rest } = claims;
      expect(await signer.verify(forge(header, rest, hmac('sha256')), NOW), missing).toBeUndefined();
    }
    for (const role of ['root', 'Admin', '', 1, ['admin'], null]) {
      expect(await signer.verify(forge(header, { ...claims, role }, hmac('sha256')), NOW), String(role)).toBeUndefined();
    }
    expect(await signer.verify(forge(header, { ...claims, sub: '' }, hmac('sha256')), NOW)).toBeUndefined();
  });

  it('never verifies, and never throws on, garbage', async () => {
    const segment = fc.string({ unit: fc.constantFrom(...'ABCxyz019-_=.+/ '.split('')), maxLength: 60 });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.array(segment, { maxLength: 4 }).map((s) => s.join('.'))), async (garbage) => {
        await expect(signer.verify(garbage, NOW)).resolves.toBeUndefined();
      }),
    );
    expect(await signer.verify('x'.repeat(1_000_000), NOW)).toBeUndefined();
  });

  it('never verifies a token with any one character changed', async () => {
    const { token } = await signer.sign(alice, NOW);
    // The last character is left alone: its low bits are base64 padding, so some edits decode to the same signature.
    await fc.assert(
      fc.asyncProperty(fc.nat(token.length - 2), fc.constantFrom(...'AQgw-_.'.split('')), async (at, char) => {
        fc.pre(token[at] !== char);
        expect(await signer.verify(token.slice(0, at) + char + token.slice(at + 1), NOW)).toBeUndefined();
      }),
    );
  });

  it('refuses a weak secret or a bad TTL at construction', () => {
    expect(() => createTokenSigner(randomBytes(16), { ttlSeconds: TTL })).toThrow(/at least 32 bytes/);
    expect(() => createTokenSigner(secret, { ttlSeconds: 0 })).toThrow(/ttlSeconds/);
    expect(() => createTokenSigner(secret, { ttlSeconds: 1.5 })).toThrow(/ttlSeconds/);
  });
});
