import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { queryAudit } from '@strata/db';
import { AuthDirectory } from './directory.js';
import { Sessions } from './sessions.js';
import { authErrors } from './errors.js';

let db: TestDb;
let directory: AuthDirectory;
let sessions: Sessions;
let userId: string;
const from = { ip: '10.0.0.9' };

beforeAll(async () => {
  db = await openTestDatabase();
  directory = await AuthDirectory.open({ db });
  sessions = await Sessions.open({ db, directory, accessTokenTtlSeconds: 900, refreshTokenTtlSeconds: 3600 });
  userId = (await directory.createUser({ username: 'dana', password: 'correct horse 42', role: 'clinician' }, { actor: 'system' })).id;
});
afterAll(async () => {
  directory.close();
  await db.dispose();
});

describe('sign-in', () => {
  it('gives an access token naming the user and role, and audits it', async () => {
    const tokens = await sessions.login('DANA', 'correct horse 42', from);
    expect(tokens.user).toEqual({ id: userId, username: 'dana', role: 'clinician' });
    expect(await sessions.verify(tokens.accessToken)).toMatchObject({ sub: userId, role: 'clinician' });
    const { records } = await queryAudit(db.kysely, { action: 'auth.login', outcome: 'success', limit: 1 });
    expect(records[0]).toMatchObject({ actor: 'user:dana', ip: '10.0.0.9' });
  });

  it('answers a wrong password and an unknown user alike, and audits both', async () => {
    await expect(sessions.login('dana', 'wrong password 42', from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_LOGIN_FAILED.is);
    await expect(sessions.login('nobody', 'wrong password 42', from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_LOGIN_FAILED.is);
    const { records } = await queryAudit(db.kysely, { action: 'auth.login', outcome: 'denied', limit: 2 });
    expect(records.map((r) => r.resource)).toEqual(['user:nobody', 'user:dana']);
  });

  it('rotates refresh tokens, and a reused one ends the whole session', async () => {
    const first = await sessions.login('dana', 'correct horse 42', from);
    const second = await sessions.refresh(first.refreshToken, from);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    // Someone replays the spent token: refused, and the live one dies with it.
    await expect(sessions.refresh(first.refreshToken, from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_INVALID_REFRESH.is);
    await expect(sessions.refresh(second.refreshToken, from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_INVALID_REFRESH.is);
  });

  it('ends sessions on logout, on a password change and when the account is disabled', async () => {
    const a = await sessions.login('dana', 'correct horse 42', from);
    await sessions.logout(a.refreshToken, { actor: 'user:dana' });
    await expect(sessions.refresh(a.refreshToken, from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_INVALID_REFRESH.is);

    const b = await sessions.login('dana', 'correct horse 42', from);
    await directory.updateUser(userId, { password: 'battery staple 43' }, { actor: 'system' });
    await expect(sessions.refresh(b.refreshToken, from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_INVALID_REFRESH.is);
    await expect(sessions.login('dana', 'correct horse 42', from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_LOGIN_FAILED.is);

    const c = await sessions.login('dana', 'battery staple 43', from);
    await directory.updateUser(userId, { disabled: true }, { actor: 'system' });
    await expect(sessions.refresh(c.refreshToken, from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_INVALID_REFRESH.is);
    await expect(sessions.login('dana', 'battery staple 43', from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_LOGIN_FAILED.is);
    await directory.updateUser(userId, { disabled: false }, { actor: 'system' });
  });

  it('leaves no working token when a refresh races a logout, or another refresh of the same token', async () => {
    for (let i = 0; i < 3; i++) {
      const a = await sessions.login('dana', 'battery staple 43', from);
      const [, refreshed] = await Promise.allSettled([sessions.logout(a.refreshToken, { actor: 'user:dana' }), sessions.refresh(a.refreshToken, from)]);
      if (refreshed.status === 'fulfilled') await expect(sessions.refresh(refreshed.value.refreshToken, from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_INVALID_REFRESH.is);

      const b = await sessions.login('dana', 'battery staple 43', from);
      const both = await Promise.allSettled([sessions.refresh(b.refreshToken, from), sessions.refresh(b.refreshToken, from)]);
      for (const r of both) {
        if (r.status === 'fulfilled') await expect(sessions.refresh(r.value.refreshToken, from)).rejects.toSatisfy(authErrors.STRATA_ERR_AUTH_INVALID_REFRESH.is);
      }
    }
  });

  it('accepts tokens signed by another process of the same deployment (shared secret)', async () => {
    const other = await Sessions.open({ db, directory, accessTokenTtlSeconds: 900, refreshTokenTtlSeconds: 3600 });
    const tokens = await sessions.login('dana', 'battery staple 43', from);
    expect(await other.verify(tokens.accessToken)).toMatchObject({ sub: userId });
  });
});
