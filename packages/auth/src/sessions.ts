/**
 * User sign-in: username + password → a short-lived access token (JWT, see jwt.ts) and a
 * refresh token. Refresh tokens are random, stored hashed, single use: each refresh rotates
 * the token, and presenting a used one again (a stolen copy racing its owner) revokes every
 * token of that login. The signing secret is generated once and kept in the database, so all
 * processes of a deployment accept each other's tokens.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { appendAudit, platformSecret, type Database, type Db } from '@strata/db';
import { authErrors } from './errors.js';
import { hashKey } from './keys.js';
import { hashPassword, verifyPassword } from './password.js';
import { createTokenSigner, type AccessClaims, type TokenSigner } from './jwt.js';
import type { Actor, AuthDirectory, UserInfo } from './directory.js';

export interface SessionTokens {
  accessToken: string;
  /** When the access token expires (RFC 3339). */
  expiresAt: string;
  refreshToken: string;
  refreshExpiresAt: string;
  user: Pick<UserInfo, 'id' | 'username' | 'role'>;
}

export interface SessionOptions {
  db: Db;
  directory: AuthDirectory;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
}

/** Spent on unknown usernames too, so response time does not tell which usernames exist. */
const DUMMY_HASH = hashPassword('not-a-real-password-only-for-timing');

export class Sessions {
  readonly #opts: SessionOptions;
  readonly signer: TokenSigner;

  private constructor(opts: SessionOptions, signer: TokenSigner) {
    this.#opts = opts;
    this.signer = signer;
  }

  static async open(opts: SessionOptions): Promise<Sessions> {
    const secret = await platformSecret(opts.db, 'jwt_secret');
    return new Sessions(opts, createTokenSigner(secret, { ttlSeconds: opts.accessTokenTtlSeconds }));
  }

  /** Tokens for a right username and password; audits the attempt either way. */
  async login(username: string, password: string, from: { ip?: string }): Promise<SessionTokens> {
    const user = this.#opts.directory.userByName(username);
    const ok = user ? await verifyPassword(password, user.passwordHash) : (await verifyPassword(password, await DUMMY_HASH), false);
    const resource = `user:${user?.username ?? username.slice(0, 64)}`;
    if (!user || !ok || user.disabled) {
      await this.#opts.directory.audit({ actor: 'anonymous', action: 'auth.login', resource, outcome: 'denied', ip: from.ip, details: { reason: !user || !ok ? 'bad credentials' : 'disabled' } });
      throw authErrors.STRATA_ERR_AUTH_LOGIN_FAILED();
    }
    const tokens = await this.#issue(user, randomUUID(), async (tx) => {
      await tx.updateTable('users').set({ last_login: new Date() }).where('id', '=', user.id).execute();
      // Expired tokens of this user go as they sign in again, so the table does not grow forever.
      await tx.deleteFrom('refresh_tokens').where('user_id', '=', user.id).where('expires', '<', new Date()).execute();
      await appendAudit(tx, { actor: `user:${user.username}`, action: 'auth.login', resource, outcome: 'success', ip: from.ip });
      return true;
    });
    return tokens!;
  }

  /** New tokens for a current refresh token, which is spent. */
  async refresh(refreshToken: string, from: { ip?: string }): Promise<SessionTokens> {
    const k = this.#opts.db.kysely;
    const row = await k.selectFrom('refresh_tokens').selectAll().where('hash', '=', hashKey(refreshToken)).executeTakeFirst();
    if (!row) throw authErrors.STRATA_ERR_AUTH_INVALID_REFRESH();
    const user = this.#opts.directory.userCaller(row.user_id);
    const username = user?.kind === 'user' ? user.username : row.user_id;
    if (row.used !== null || row.revoked !== null) {
      if (row.used !== null && row.revoked === null) {
        // Reuse of a rotated token: someone else holds a copy. End the whole login.
        await k.updateTable('refresh_tokens').set({ revoked: new Date() }).where('family', '=', row.family).where('revoked', 'is', null).execute();
        await this.#opts.directory.audit({ actor: `user:${username}`, action: 'auth.refresh', resource: `user:${username}`, outcome: 'denied', ip: from.ip, details: { reason: 'refresh token reused; session revoked' } });
      }
      throw authErrors.STRATA_ERR_AUTH_INVALID_REFRESH();
    }
    if (row.expires.getTime() <= Date.now() || !user || user.kind !== 'user') throw authErrors.STRATA_ERR_AUTH_INVALID_REFRESH();
    let raced = false;
    const tokens = await this.#issue({ id: user.id, username: user.username, role: user.role }, row.family, async (tx) => {
      await lockTokens(tx, 'family', row.family);
      // Spent only if still unspent and unrevoked now that the family is ours: a logout or a
      // revocation that got there first wins, and a refresh that got there first means two
      // holders of one token (a stolen copy): the whole login ends.
      const spent = await tx.updateTable('refresh_tokens').set({ used: new Date() }).where('id', '=', row.id).where('used', 'is', null).where('revoked', 'is', null).returning('id').executeTakeFirst();
      if (spent) return true;
      raced = true;
      await tx.updateTable('refresh_tokens').set({ revoked: new Date() }).where('family', '=', row.family).where('revoked', 'is', null).execute();
      return false;
    });
    if (!tokens) {
      if (raced) await this.#opts.directory.audit({ actor: `user:${username}`, action: 'auth.refresh', resource: `user:${username}`, outcome: 'denied', ip: from.ip, details: { reason: 'refresh token spent twice at once; session revoked' } });
      throw authErrors.STRATA_ERR_AUTH_INVALID_REFRESH();
    }
    return tokens;
  }

  /** Revokes the login the refresh token belongs to. Unknown tokens are ignored (idempotent). */
  async logout(refreshToken: string, by: Actor): Promise<void> {
    const k = this.#opts.db.kysely;
    const row = await k.selectFrom('refresh_tokens').select(['family', 'user_id']).where('hash', '=', hashKey(refreshToken)).executeTakeFirst();
    if (!row) return;
    await k.transaction().execute(async (tx) => {
      await lockTokens(tx, 'family', row.family);
      await tx.updateTable('refresh_tokens').set({ revoked: new Date() }).where('family', '=', row.family).where('revoked', 'is', null).execute();
      await appendAudit(tx, { ...by, action: 'auth.logout', resource: by.actor, outcome: 'success' });
    });
  }

  /** Verifies an access token; undefined for any token that is not valid now. Never throws. */
  verify(token: string): Promise<AccessClaims | undefined> {
    return this.signer.verify(token);
  }

  /** New tokens in the family, if `inTransaction` agrees (returns true); its writes commit either way. */
  async #issue(
    user: Pick<UserInfo, 'id' | 'username' | 'role'>,
    family: string,
    inTransaction: (tx: Transaction<Database>) => Promise<boolean>,
  ): Promise<SessionTokens | undefined> {
    const refreshToken = `str_${randomBytes(32).toString('base64url')}`;
    const refreshExpires = new Date(Date.now() + this.#opts.refreshTokenTtlSeconds * 1000);
    const issued = await this.#opts.db.kysely.transaction().execute(async (tx) => {
      if (!(await inTransaction(tx))) return false;
      await tx.insertInto('refresh_tokens').values({ id: randomUUID(), user_id: user.id, hash: hashKey(refreshToken), family, expires: refreshExpires }).execute();
      return true;
    });
    if (!issued) return undefined;
    const { token, expiresAt } = await this.signer.sign({ sub: user.id, role: user.role, username: user.username });
    return {
      accessToken: token,
      expiresAt: expiresAt.toISOString(),
      refreshToken,
      refreshExpiresAt: refreshExpires.toISOString(),
      user: { id: user.id, username: user.username, role: user.role },
    };
  }
}

/**
 * Locks refresh tokens (of a login, or of a user) until the transaction ends. Whoever revokes
 * or spends them locks first and changes them in a later statement, whose fresh snapshot (READ
 * COMMITTED) also sees a token a concurrent refresh committed meanwhile: none escapes.
 */
export async function lockTokens(tx: Transaction<Database>, by: 'family' | 'user_id', value: string): Promise<void> {
  await tx.selectFrom('refresh_tokens').select('id').where(by, '=', value).forUpdate().execute();
}

