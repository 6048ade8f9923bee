import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { queryAudit } from '@strata/db';
import { AuthDirectory } from './directory.js';
import { authErrors } from './errors.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => db.dispose());

const admin = { actor: 'user:root', ip: '127.0.0.1' };

describe('API keys in the database', () => {
  it('work as soon as created, store only a hash, and stop working when revoked', async () => {
    const dir = await AuthDirectory.open({ db });
    const { key, info } = await dir.createKey({ scopes: ['ingest'], device: 'pump-7', name: 'pump' }, admin);
    expect(dir.verifyKey(key)).toEqual({ kind: 'key', id: info.id, scopes: ['ingest'], device: 'pump-7' });
    const rows = await db.kysely.selectFrom('api_keys').selectAll().where('id', '=', info.id).execute();
    expect(JSON.stringify(rows)).not.toContain(key.slice(17)); // the secret part
    expect(dir.verifyKey(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
    await dir.revokeKey(info.id, admin);
    expect(dir.verifyKey(key)).toBeUndefined();
    dir.close();
  });

  it('reach another process within its reload period (revocation included)', async () => {
    const here = await AuthDirectory.open({ db });
    const there = await AuthDirectory.open({ db });
    const { key, info } = await here.createKey({ scopes: ['read'] }, admin);
    expect(there.verifyKey(key)).toBeUndefined(); // not reloaded yet
    await there.reload();
    expect(there.verifyKey(key)).toMatchObject({ id: info.id });
    await here.revokeKey(info.id, admin);
    await there.reload();
    expect(there.verifyKey(key)).toBeUndefined();
    here.close();
    there.close();
  });

  it('refuse bad requests with a reason and write nothing', async () => {
    const dir = await AuthDirectory.open({ db });
    const before = dir.listKeys().length;
    for (const req of [{ scopes: [] }, { scopes: ['root'] }, { scopes: ['read'], device: '../etc' }, { scopes: ['read'], expires: '2001-01-01T00:00:00Z' }]) {
      await expect(dir.createKey(req, admin)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_BAD_REQUEST.is);
    }
    await expect(dir.revokeKey('000000000000', admin)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_UNKNOWN_KEY_ID.is);
    expect(dir.listKeys()).toHaveLength(before);
    dir.close();
  });

  it('audit every change in the same transaction', async () => {
    const dir = await AuthDirectory.open({ db });
    const { info } = await dir.createKey({ scopes: ['metrics'] }, admin);
    await dir.revokeKey(info.id, admin);
    const { records } = await queryAudit(db.kysely, { resource: `key:${info.id}`, limit: 10 });
    expect(records.map((r) => [r.action, r.actor, r.outcome, r.ip])).toEqual([
      ['key.revoke', 'user:root', 'success', '127.0.0.1'],
      ['key.create', 'user:root', 'success', '127.0.0.1'],
    ]);
    dir.close();
  });

  it('keep serving cached keys while the database is unreachable', async () => {
    const own = await openTestDatabase();
    const dir = await AuthDirectory.open({ db: own });
    const { key } = await dir.createKey({ scopes: ['ingest'] }, admin);
    await own.close();
    await expect(dir.reload()).rejects.toThrow();
    expect(dir.verifyKey(key)).toMatchObject({ kind: 'key' });
    dir.close();
  });
});

describe('users', () => {
  it('are created with a hashed password, unique usernames (any case) and a known role', async () => {
    const dir = await AuthDirectory.open({ db });
    const user = await dir.createUser({ username: 'Alice', password: 'correct horse 42', role: 'clinician' }, admin);
    expect(user).toMatchObject({ username: 'Alice', role: 'clinician', disabled: false });
    const row = await db.kysely.selectFrom('users').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(row.password_hash).not.toContain('correct horse');
    await expect(dir.createUser({ username: 'alice', password: 'another pass 42', role: 'analyst' }, admin)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_CONFLICT.is);
    await expect(dir.createUser({ username: 'bob', password: 'short', role: 'analyst' }, admin)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_BAD_REQUEST.is);
    await expect(dir.createUser({ username: 'bob', password: 'long enough 42', role: 'root' }, admin)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_BAD_REQUEST.is);
    await expect(dir.createUser({ username: "bob'; drop table users;--", password: 'long enough 42', role: 'analyst' }, admin)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_BAD_REQUEST.is);
    dir.close();
  });

  it('lose access at once when disabled, and take a new role at once', async () => {
    const dir = await AuthDirectory.open({ db });
    const user = await dir.createUser({ username: 'carol', password: 'correct horse 42', role: 'operator' }, admin);
    expect(dir.userCaller(user.id)).toMatchObject({ role: 'operator' });
    await dir.updateUser(user.id, { role: 'analyst' }, admin);
    expect(dir.userCaller(user.id)).toMatchObject({ role: 'analyst' });
    await dir.updateUser(user.id, { disabled: true }, admin);
    expect(dir.userCaller(user.id)).toBeUndefined();
    await expect(dir.updateUser('no-such-id', { disabled: true }, admin)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_UNKNOWN_USER.is);
    dir.close();
  });
});
