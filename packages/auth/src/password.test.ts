import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, hashPassword, verifyPassword } from './password.js';

describe('hashPassword / verifyPassword', () => {
  it('verifies the password it hashed, in a self-describing format', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^scrypt\$N=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
  });

  it('rejects a wrong password', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(await verifyPassword('correct horse battery stapl', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('salts every hash, so equal passwords do not show', async () => {
    const [a, b] = await Promise.all([hashPassword('same password 1'), hashPassword('same password 1')]);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same password 1', a)).toBe(true);
    expect(await verifyPassword('same password 1', b)).toBe(true);
  });

  it('treats canonically equal Unicode as the same password', async () => {
    const stored = await hashPassword('caf\u00e9 au lait 42'); // precomposed é
    expect(await verifyPassword('cafe\u0301 au lait 42', stored)).toBe(true); // e + combining accent
  });

  it('returns false, never throws, for malformed or out-of-bounds stored strings', async () => {
    const good = await hashPassword('correct horse battery staple');
    const [, params, salt, hash] = good.split('$');
    const bad = [
      '',
      'plaintext',
      good.slice(0, -4), // truncated hash: its prefix would otherwise match
      `bcrypt$${params}$${salt}$${hash}`,
      `scrypt$${params}$${salt}`,
      `scrypt$${params}$${salt}$${hash}$extra`,
      `scrypt$N=16383,r=8,p=1$${salt}$${hash}`, // N not a power of two
      `scrypt$N=67108864,r=8,p=1$${salt}$${hash}`, // 64 GiB: refused, not attempted
      `scrypt$N=16384,r=8,p=0$${salt}$${hash}`,
      `scrypt$${params}$${salt}$${'!'.repeat(43)}`,
      `scrypt$${params}$AAAA$${hash}`, // salt too short
    ];
    for (const stored of bad) expect(await verifyPassword('correct horse battery staple', stored), stored).toBe(false);
  });

  it('never verifies a different password (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), async (p, q) => {
        fc.pre(p.normalize('NFKC') !== q.normalize('NFKC'));
        expect(await verifyPassword(q, await hashPassword(p))).toBe(false);
      }),
      { numRuns: 8 },
    );
  });
});

describe('checkPasswordPolicy', () => {
  it('accepts long passwords that mix character kinds', () => {
    for (const ok of ['correct horse battery staple', 'Tr0ub4dor&3xx', 'ABCDEFGHIJK1', 'пароль пароль']) {
      expect(checkPasswordPolicy(ok), ok).toBeUndefined();
    }
  });

  it('gives a reason for short, huge or single-kind passwords', () => {
    expect(checkPasswordPolicy('Short1!')).toMatch(/at least 12/);
    expect(checkPasswordPolicy('aA1!'.repeat(300))).toMatch(/at most 1024/);
    for (const weak of ['123456789012', 'aaaaaaaaaaaa', 'passwordpassword', 'ABCDEFGHIJKL', '!!!!!!!!!!!!']) {
      expect(checkPasswordPolicy(weak), weak).toMatch(/two kinds/);
    }
  });

  it('counts characters, not UTF-16 units', () => {
    expect(checkPasswordPolicy('😀'.repeat(6) + 'a')).toMatch(/at least 12/); // 13 units, 7 characters
  });
});
