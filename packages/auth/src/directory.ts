/**
 * Keys and users, stored in the operational database and cached in memory so that checking a
 * credential never waits for the database (ingest keeps working while it is down). Every
 * process polls one counter (`settings.auth_version`, bumped by a trigger on each change) and
 * reloads when it moves, so a key revoked anywhere stops working everywhere within `reloadMs`.
 *
 * Changes go through here and write their audit record in the same transaction: a change
 * without its audit record cannot happen.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import { appendAudit, type ApiKeyRow, type AuditEntry, type Db, type User } from '@strata/db';
import { silentLogger, type Logger } from '@strata/core';
import { authErrors } from './errors.js';
import { checkKeyRequest, hashKey, KEY_PATTERN, newKey, type CreateKeyRequest, type KeyInfo } from './keys.js';
import { checkPasswordPolicy, hashPassword } from './password.js';
import { lockTokens } from './sessions.js';
import { isRole, type Role } from './roles.js';
import type { Caller, KeyScope } from './policy.js';

export interface UserInfo {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  created: string;
  lastLogin?: string;
}

interface CachedKey extends KeyInfo {
  hash: Buffer;
  expiresMs?: number;
}

type CachedUser = UserInfo & { passwordHash: string };

/** Who is acting, for the audit record of a change. */
export interface Actor {
  actor: string;
  ip?: string | undefined;
}

export const USERNAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;

export class AuthDirectory {
  readonly #db: Db;
  readonly #logger: Logger;
  #keys = new Map<string, CachedKey>();
  #users = new Map<string, CachedUser>();
  #version = -1;
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #failing = false;

  private constructor(db: Db, logger: Logger) {
    this.#db = db;
    this.#logger = logger;
  }

  /** Loads everything; `reloadMs` > 0 polls for changes made by other processes. */
  static async open(opts: { db: Db; logger?: Logger; reloadMs?: number }): Promise<AuthDirectory> {
    const dir = new AuthDirectory(opts.db, opts.logger ?? silentLogger);
    await dir.reload();
    if (opts.reloadMs) {
      dir.#timer = setInterval(() => void dir.reload().catch(() => undefined), opts.reloadMs);
      dir.#timer.unref();
    }
    return dir;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * After a change this process committed: a reload that starts now (one already running may
   * have read before the commit). It never fails the change, which is done: a reload that
   * fails is retried by the timer.
   */
  async #afterChange(): Promise<void> {
    await this.#reloading?.catch(() => undefined);
    await this.reload().catch(() => undefined);
  }

  /** Reloads when the change counter moved. Concurrent calls share one reload. */
  reload(): Promise<void> {
    this.#reloading ??= this.#reload().finally(() => (this.#reloading = undefined));
    return this.#reloading;
  }

  async #reload(): Promise<void> {
    const k = this.#db.kysely;
    try {
      const row = await k.selectFrom('settings').select('value').where('key', '=', 'auth_version').executeTakeFirst();
      const version = Number(row?.value ?? 0);
      if (this.#failing) this.#logger.info({}, 'auth directory reachable again');
      this.#failing = false;
      if (version === this.#version) return;
      const [keys, users] = await Promise.all([k.selectFrom('api_keys').selectAll().execute(), k.selectFrom('users').selectAll().execute()]);
      this.#keys = new Map(keys.map((r) => [r.id, cachedKey(r)]));
      this.#users = new Map(users.map((r) => [r.id, cachedUser(r)]));
      this.#version = version;
    } catch (err) {
      // Keep serving from the cache: a database outage must not lock everyone out.
      if (!this.#failing) this.#logger.warn({ err: { message: (err as Error).message } }, 'auth directory cannot reload; serving cached keys and users');
      this.#failing = true;
      throw err;
    }
  }

  /** The caller for a presented key, or undefined when unknown, revoked, expired or malformed. Synchronous. */
  verifyKey(presented: string, nowMs: number = Date.now()): Caller | undefined {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return undefined;
    const stored = this.#keys.get(match[1]!);
    if (!stored) return undefined;
    if (!timingSafeEqual(stored.hash, hashKey(presented))) return undefined;
    return this.keyCaller(stored.id, nowMs);
  }

  /** The caller a key id stands for now: none once it is revoked or expired. */
  keyCaller(keyId: string, nowMs: number = Date.now()): Caller | undefined {
    const stored = this.#keys.get(keyId);
    if (!stored || stored.revoked || (stored.expiresMs !== undefined && stored.expiresMs <= nowMs)) return undefined;
    return { kind: 'key', id: stored.id, scopes: stored.scopes, ...(stored.device !== undefined && { device: stored.device }) };
  }

  /** The caller for a user id from a verified token: current role, and none when disabled or gone. */
  userCaller(userId: string): Caller | undefined {
    const user = this.#users.get(userId);
    if (!user || user.disabled) return undefined;
    return { kind: 'user', id: user.id, username: user.username, role: user.role };
  }

  /** The stored password hash and caller for a username (case-insensitive), for login. */
  userByName(username: string): CachedUser | undefined {
    const lower = username.toLowerCase();
    for (const user of this.#users.values()) if (user.username.toLowerCase() === lower) return user;
    return undefined;
  }

  listKeys(): KeyInfo[] {
    return [...this.#keys.values()].map(publicKey);
  }

  listUsers(): UserInfo[] {
    return [...this.#users.values()].map(publicUser);
  }

  hasActiveAdminKey(): boolean {
    const now = Date.now();
    return [...this.#keys.values()].some((k) => k.scopes.includes('admin') && !k.revoked && !(k.expiresMs !== undefined && k.expiresMs <= now));
  }

  /**
   * Creates a key and returns it in clear: the only time it is ever visible. `beforeCommit`
   * runs with the key before the transaction commits, so a caller that must keep it (the
   * bootstrap admin key file) has it safe before the key can work.
   */
  async createKey(req: CreateKeyRequest, by: Actor, beforeCommit?: (key: string) => void): Promise<{ key: string; info: KeyInfo }> {
    const now = new Date();
    const checked = checkKeyRequest(req, now);
    const { id, key } = newKey();
    const row = await this.#db.kysely.transaction().execute(async (tx) => {
      const inserted = await tx
        .insertInto('api_keys')
        .values({
          id,
          hash: hashKey(key),
          scopes: checked.scopes,
          name: checked.name ?? null,
          device: checked.device ?? null,
          expires: checked.expires ?? null,
          created: now,
          created_by: by.actor,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(tx, { ...by, action: 'key.create', resource: `key:${id}`, outcome: 'success', details: { scopes: checked.scopes, device: checked.device } });
      beforeCommit?.(key);
      return inserted;
    });
    await this.#afterChange();
    return { key, info: publicKey(cachedKey(row)) };
  }

  async revokeKey(id: string, by: Actor): Promise<KeyInfo> {
    const revoked = await this.#db.kysely.transaction().execute(async (tx) => {
      const row = await tx.updateTable('api_keys').set({ revoked: sql<Date>`coalesce(revoked, now())` }).where('id', '=', id).returningAll().executeTakeFirst();
      if (row) await appendAudit(tx, { ...by, action: 'key.revoke', resource: `key:${id}`, outcome: 'success' });
      return row;
    });
    if (!revoked) throw authErrors.STRATA_ERR_AUTH_UNKNOWN_KEY_ID({ id });
    await this.#afterChange();
    return publicKey(cachedKey(revoked));
  }

  async createUser(req: { username: string; password: string; role: string }, by: Actor): Promise<UserInfo> {
    if (!USERNAME_PATTERN.test(req.username)) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'username must match [A-Za-z0-9._@-]{1,64}' });
    if (!isRole(req.role)) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'role must be admin, operator, clinician or analyst' });
    const weak = checkPasswordPolicy(req.password);
    if (weak) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: weak });
    const id = randomUUID();
    const passwordHash = await hashPassword(req.password);
    const row = await this.#db.kysely.transaction().execute(async (tx) => {
      const taken = await tx.selectFrom('users').select('id').where(sql`lower(username)`, '=', req.username.toLowerCase()).executeTakeFirst();
      if (taken) throw authErrors.STRATA_ERR_AUTH_CONFLICT({ reason: `user ${req.username} exists` });
      const inserted = await tx.insertInto('users').values({ id, username: req.username, password_hash: passwordHash, role: req.role }).returningAll().executeTakeFirstOrThrow();
      await appendAudit(tx, { ...by, action: 'user.create', resource: `user:${req.username}`, outcome: 'success', details: { role: req.role } });
      return inserted;
    });
    await this.#afterChange();
    return publicUser(cachedUser(row));
  }

  async updateUser(id: string, change: { role?: string; disabled?: boolean; password?: string }, by: Actor): Promise<UserInfo> {
    if (change.role !== undefined && !isRole(change.role)) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'role must be admin, operator, clinician or analyst' });
    if (change.password !== undefined) {
      const weak = checkPasswordPolicy(change.password);
      if (weak) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: weak });
    }
    const passwordHash = change.password === undefined ? undefined : await hashPassword(change.password);
    const updated = await this.#db.kysely.transaction().execute(async (tx) => {
      const row = await tx
        .updateTable('users')
        .set({
          updated: new Date(),
          ...(change.role !== undefined && { role: change.role }),
          ...(change.disabled !== undefined && { disabled: change.disabled }),
          ...(passwordHash !== undefined && { password_hash: passwordHash }),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      // A changed password or a disabled account ends the user's sessions.
      if (passwordHash !== undefined || change.disabled === true) {
        await lockTokens(tx, 'user_id', id);
        await tx.updateTable('refresh_tokens').set({ revoked: new Date() }).where('user_id', '=', id).where('revoked', 'is', null).execute();
      }
      const details = { ...(change.role !== undefined && { role: change.role }), ...(change.disabled !== undefined && { disabled: change.disabled }), ...(passwordHash !== undefined && { password: 'changed' }) };
      await appendAudit(tx, { ...by, action: 'user.update', resource: `user:${row.username}`, outcome: 'success', details });
      return row;
    });
    if (updated === undefined) throw authErrors.STRATA_ERR_AUTH_UNKNOWN_USER({ id });
    await this.#afterChange();
    return publicUser(cachedUser(updated));
  }

  /** Writes an audit record outside a change (logins, denied attempts). */
  audit(entry: AuditEntry): Promise<void> {
    return appendAudit(this.#db.kysely, entry);
  }
}

function cachedKey(r: ApiKeyRow): CachedKey {
  return {
    id: r.id,
    hash: Buffer.from(r.hash),
    scopes: r.scopes as KeyScope[],
    created: r.created.toISOString(),
    ...(r.name !== null && { name: r.name }),
    ...(r.device !== null && { device: r.device }),
    ...(r.expires !== null && { expires: r.expires.toISOString(), expiresMs: r.expires.getTime() }),
    ...(r.revoked !== null && { revoked: r.revoked.toISOString() }),
    ...(r.created_by !== null && { createdBy: r.created_by }),
  };
}

function cachedUser(r: User): CachedUser {
  return {
    id: r.id,
    username: r.username,
    role: isRole(r.role) ? r.role : 'analyst',
    disabled: r.disabled,
    created: r.created.toISOString(),
    passwordHash: r.password_hash,
    ...(r.last_login !== null && { lastLogin: r.last_login.toISOString() }),
  };
}

function publicKey({ hash: _hash, expiresMs: _expiresMs, ...info }: CachedKey): KeyInfo {
  return { ...info, scopes: [...info.scopes] };
}

function publicUser({ passwordHash: _passwordHash, ...info }: CachedUser): UserInfo {
  return { ...info };
}
