import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { envelope } from './index.js';

describe('envelope', () => {
  it('opens what it sealed, with the same key and AAD only', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (text, aad) => {
        const key = envelope.newKey();
        const sealed = envelope.seal(key, text, aad);
        expect(envelope.open(key, sealed, aad).toString()).toBe(text);
        expect(() => envelope.open(envelope.newKey(), sealed, aad)).toThrow();
        expect(() => envelope.open(key, sealed, aad + 'x')).toThrow();
      }),
      { numRuns: 50 },
    );
  });

  it('detects a flipped byte', () => {
    const key = envelope.newKey();
    const sealed = envelope.seal(key, 'Bobby Jackson');
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] = bad[i]! ^ 1;
      expect(() => envelope.open(key, bad)).toThrow();
    }
  });

  it('seals the same text differently each time (random IV)', () => {
    const key = envelope.newKey();
    expect(envelope.seal(key, 'same').equals(envelope.seal(key, 'same'))).toBe(false);
  });

  it('parses base64 and hex master keys of 32 bytes only', () => {
    const key = envelope.newKey();
    expect(envelope.parseKey(key.toString('base64'))?.equals(key)).toBe(true);
    expect(envelope.parseKey(key.toString('hex'))?.equals(key)).toBe(true);
    expect(envelope.parseKey(key.toString('base64url'))?.equals(key)).toBe(true);
    expect(envelope.parseKey('too short')).toBeUndefined();
    expect(envelope.parseKey(key.subarray(0, 16).toString('hex'))).toBeUndefined();
    expect(envelope.keyId(key)).toMatch(/^[0-9a-f]{16}$/);
    expect(envelope.keyId(key)).not.toBe(envelope.keyId(envelope.newKey()));
  });
});
