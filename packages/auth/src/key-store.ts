/**
 * API keys, stored hashed in an append-only log `DATA/keys.jsonl` (mode 0600):
 *   {"op":"create","id","hash","scopes","device"?,"name"?,"created","expires"?}
 *   {"op":"revoke","id","at"}
 * The log is the only state: the CLI and a running server may both append to it (one O_APPEND
 * write + fsync per line), and the server folds new lines in within `reloadMs`. A torn last line
 * after a crash is skipped.
 *
 * Key format: `stk_<id>_<secret>`: id is 12 hex chars (public, used for lookup and audit),
 * secret 32 random bytes base64url. Only SHA-256 of the whole key is stored: keys are
 * high-entropy random tokens, so a slow password hash adds nothing but latency on every request.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { DEVICE_ID_PATTERN } from '@strata/core';
import { authErrors } from './errors.js';
import { isScope, type Principal, type Scope } from './scopes.js';

export interface KeyInfo {
  id: string;
  name?: string;
  scopes: Scope[];
  device?: string;
  created: string;
  expires?: string;
  revoked?: string;
}

interface StoredKey extends KeyInfo {
  hash: Buffer;
}

export interface CreateKeyRequest {
  scopes: string[];
  device?: string;
  name?: string;
  /** RFC 3339 time after which the key stops working. */
  expires?: string;
}

const KEY_PATTERN = /^stk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** One-shot hash: half the cost of createHash for a key-sized input, and it runs on every request. */
function sha256(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}

export class KeyStore {
  readonly #file: string;
  readonly #keys = new Map<string, StoredKey>();
  #loadedBytes = 0;
  #timer: NodeJS.Timeout | undefined;

  private constructor(file: string) {
    this.#file = file;
  }

  /** Opens the key log (created on first write). `reloadMs` > 0 watches it for lines other processes append. */
  static open(file: string, opts: { reloadMs?: number } = {}): KeyStore {
    const store = new KeyStore(file);
    store.reload();
    if (opts.reloadMs) {
      store.#timer = setInterval(() => store.reload(), opts.reloadMs);
      store.#timer.unref();
    }
    return store;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** Folds in lines appended since the last load. */
  reload(): void {
    if (!existsSync(this.#file)) return;
    if (statSync(this.#file).size === this.#loadedBytes) return;
    const text = readFileSync(this.#file);
    const end = text.lastIndexOf(0x0a) + 1; // a line without its newline is still being written (or torn)
    for (const line of text.subarray(this.#loadedBytes, end).toString('utf8').split('\n')) {
      if (line) this.#apply(line);
    }
    this.#loadedBytes = end;
  }

  #apply(line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // torn line from a crash: never acknowledged to anyone
    }
    const id = String(entry.id);
    if (entry.op === 'create') {
      const { op: _op, hash, ...info } = entry;
      this.#keys.set(id, { ...(info as unknown as KeyInfo), hash: Buffer.from(String(hash), 'hex') });
    } else if (entry.op === 'revoke') {
      const key = this.#keys.get(id);
      if (key) key.revoked = String(entry.at);
    }
  }

  #append(entry: Record<string, unknown>): void {
    const fd = openSync(this.#file, 'a+', 0o600);
    try {
      // A line torn by a crash must not swallow this one: end it first.
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      const torn = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
      writeSync(fd, (torn ? '\n' : '') + JSON.stringify(entry) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.reload();
  }

  /**
   * Creates a key and returns it in clear: the only time it is ever visible. `beforeCommit` runs
   * with the key before it enters the log, so a caller that must keep it (the bootstrap admin
   * key file) has it safe before the key can work.
   */
  create(req: CreateKeyRequest, now: Date = new Date(), beforeCommit?: (key: string) => void): { key: string; info: KeyInfo } {
    const scopes = [...new Set(req.scopes)];
    if (scopes.length === 0) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'at least one scope is required' });
    const unknown = scopes.filter((s) => !isScope(s));
    if (unknown.length > 0) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: `unknown scope ${unknown.join(', ')}` });
    if (req.device !== undefined && !DEVICE_ID_PATTERN.test(req.device)) {
      throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'device must match [A-Za-z0-9._:-]{1,128}' });
    }
    if (req.expires !== undefined && !(Date.parse(req.expires) > now.getTime())) {
      throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'expires must be a future RFC 3339 time' });
    }
    if (req.name !== undefined && (req.name.length > 128 || /[\u0000-\u001f]/.test(req.name))) {
      throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'name must be at most 128 printable characters' });
    }
    const id = randomBytes(6).toString('hex');
    const key = `stk_${id}_${randomBytes(32).toString('base64url')}`;
    const info: KeyInfo = {
      id,
      scopes: scopes as Scope[],
      created: now.toISOString(),
      ...(req.name !== undefined && { name: req.name }),
      ...(req.device !== undefined && { device: req.device }),
      ...(req.expires !== undefined && { expires: new Date(req.expires).toISOString() }),
    };
    beforeCommit?.(key);
    this.#append({ op: 'create', ...info, hash: sha256(key).toString('hex') });
    return { key, info };
  }

  revoke(id: string, now: Date = new Date()): KeyInfo {
    const key = this.#keys.get(id);
    if (!key) throw authErrors.STRATA_ERR_AUTH_UNKNOWN_KEY_ID({ id });
    if (!key.revoked) this.#append({ op: 'revoke', id, at: now.toISOString() });
    return this.#public(key);
  }

  list(): KeyInfo[] {
    return [...this.#keys.values()].map((k) => this.#public(k));
  }

  #public({ hash: _hash, ...info }: StoredKey): KeyInfo {
    return { ...info, scopes: [...info.scopes] };
  }

  /** The principal for a presented key, or undefined when it is unknown, revoked, expired or malformed. */
  verify(presented: string, nowMs: number = Date.now()): Principal | undefined {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return undefined;
    const stored = this.#keys.get(match[1]!);
    if (!stored || stored.revoked) return undefined;
    if (stored.expires && Date.parse(stored.expires) <= nowMs) return undefined;
    if (!timingSafeEqual(stored.hash, sha256(presented))) return undefined;
    return { keyId: stored.id, scopes: stored.scopes, ...(stored.device !== undefined && { device: stored.device }) };
  }
}

/** The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`, if any. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}
