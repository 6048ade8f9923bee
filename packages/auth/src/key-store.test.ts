import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyStore, presentedKey } from './key-store.js';
import { ensureAdminKey } from './admin-key.js';
import { hasScope } from './scopes.js';
import { authErrors } from './errors.js';

function tempFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'strata-auth-')), 'keys.jsonl');
}

describe('KeyStore', () => {
  it('creates a key that verifies, and stores only its hash', () => {
    const file = tempFile();
    const store = KeyStore.open(file);
    const { key, info } = store.create({ scopes: ['ingest'], device: 'pump-7', name: 'pump' });
    expect(key).toMatch(/^stk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(store.verify(key)).toEqual({ keyId: info.id, scopes: ['ingest'], device: 'pump-7' });
    const onDisk = readFileSync(file, 'utf8');
    expect(onDisk).not.toContain(key.split('_')[2]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('rejects unknown, tampered, revoked and expired keys', () => {
    const store = KeyStore.open(tempFile());
    const { key, info } = store.create({ scopes: ['ingest'] });
    const tampered = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    expect(store.verify(tampered)).toBeUndefined();
    expect(store.verify('stk_000000000000_' + 'x'.repeat(43))).toBeUndefined();
    expect(store.verify('not a key')).toBeUndefined();
    const soon = store.create({ scopes: ['ingest'], expires: new Date(Date.now() + 60_000).toISOString() });
    expect(store.verify(soon.key)).toBeDefined();
    expect(store.verify(soon.key, Date.now() + 120_000)).toBeUndefined();
    store.revoke(info.id);
    expect(store.verify(key)).toBeUndefined();
    expect(store.list().find((k) => k.id === info.id)?.revoked).toBeDefined();
  });

  it('refuses bad requests with a reason', () => {
    const store = KeyStore.open(tempFile());
    const bad = [
      { scopes: [] },
      { scopes: ['root'] },
      { scopes: ['ingest'], device: 'has space' },
      { scopes: ['ingest'], expires: '2001-01-01T00:00:00Z' },
    ];
    for (const req of bad) {
      expect(() => store.create(req)).toThrow(expect.objectContaining({ code: authErrors.STRATA_ERR_AUTH_BAD_REQUEST.code }));
    }
    expect(() => store.revoke('ffffffffffff')).toThrow(/no key with id/);
  });

  it('sees keys and revocations appended by another process, and skips a torn line', () => {
    const file = tempFile();
    const server = KeyStore.open(file);
    const cli = KeyStore.open(file);
    const { key, info } = cli.create({ scopes: ['ingest'] });
    expect(server.verify(key)).toBeUndefined(); // not folded in yet
    server.reload();
    expect(server.verify(key)?.keyId).toBe(info.id);
    appendFileSync(file, '{"op":"create","id":"tor'); // a crash mid-write
    cli.revoke(info.id);
    server.reload();
    expect(server.verify(key)).toBeUndefined();
  });

  it('lets a caller keep the key before it works, and stores nothing when that fails', () => {
    const store = KeyStore.open(tempFile());
    let seen = '';
    const { key } = store.create({ scopes: ['admin'] }, new Date(), (k) => {
      seen = k;
      expect(store.list()).toHaveLength(0); // not in the log yet
    });
    expect(seen).toBe(key);
    expect(() => store.create({ scopes: ['admin'] }, new Date(), () => { throw new Error('disk full'); })).toThrow('disk full');
    expect(store.list()).toHaveLength(1);
  });

  it('admin implies every scope', () => {
    expect(hasScope({ keyId: 'a', scopes: ['admin'] }, 'ingest')).toBe(true);
    expect(hasScope({ keyId: 'b', scopes: ['ingest'] }, 'admin')).toBe(false);
  });
});

describe('ensureAdminKey', () => {
  it('creates one admin key on first start only, written 0600', () => {
    const file = tempFile();
    const adminFile = join(file, '..', 'admin.key');
    const store = KeyStore.open(file);
    const key = ensureAdminKey(store, adminFile);
    expect(key).toBeDefined();
    expect(readFileSync(adminFile, 'utf8').trim()).toBe(key);
    expect(statSync(adminFile).mode & 0o777).toBe(0o600);
    expect(store.verify(key!)?.scopes).toEqual(['admin']);
    expect(ensureAdminKey(KeyStore.open(file), adminFile)).toBeUndefined();
  });
});

describe('presentedKey', () => {
  it('reads Bearer and X-API-Key headers', () => {
    expect(presentedKey({ authorization: 'Bearer abc' })).toBe('abc');
    expect(presentedKey({ authorization: 'bearer  abc ' })).toBe('abc');
    expect(presentedKey({ 'x-api-key': 'xyz' })).toBe('xyz');
    expect(presentedKey({ authorization: 'Basic abc' })).toBeUndefined();
    expect(presentedKey({})).toBeUndefined();
  });
});
