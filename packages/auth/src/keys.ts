/**
 * API key format and checks. A key is `stk_<id>_<secret>`: id is 12 hex chars (public: lookup,
 * audit, revocation), secret 32 random bytes base64url. Only SHA-256 of the whole key is
 * stored: keys are high-entropy random tokens, so a slow password hash adds nothing but
 * latency on every request.
 */
import { hash, randomBytes } from 'node:crypto';
import { DEVICE_ID_PATTERN } from '@strata/core';
import { authErrors } from './errors.js';
import { KEY_SCOPES, type KeyScope } from './policy.js';

export interface KeyInfo {
  id: string;
  name?: string;
  scopes: KeyScope[];
  device?: string;
  created: string;
  expires?: string;
  revoked?: string;
  createdBy?: string;
}

export interface CreateKeyRequest {
  scopes: string[];
  device?: string;
  name?: string;
  /** RFC 3339 time after which the key stops working. */
  expires?: string;
}

export const KEY_PATTERN = /^stk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** One-shot hash: half the cost of createHash for a key-sized input, and it runs on every request. */
export function hashKey(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

export function newKey(): { id: string; key: string } {
  const id = randomBytes(6).toString('hex');
  return { id, key: `stk_${id}_${randomBytes(32).toString('base64url')}` };
}

/** Checks a request and returns it normalised (unique scopes, ISO expiry); throws a 400 otherwise. */
export function checkKeyRequest(req: CreateKeyRequest, now: Date): { scopes: KeyScope[]; device?: string; name?: string; expires?: Date } {
  const scopes = [...new Set(req.scopes)];
  if (scopes.length === 0) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'at least one scope is required' });
  const unknown = scopes.filter((s) => !(KEY_SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: `unknown scope ${unknown.join(', ')} (known: ${KEY_SCOPES.join(', ')})` });
  if (req.device !== undefined && !DEVICE_ID_PATTERN.test(req.device)) {
    throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'device must match [A-Za-z0-9._:-]{1,128}' });
  }
  // An admin key can make any key: binding it to a device would bind nothing.
  if (req.device !== undefined && scopes.includes('admin')) {
    throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'an admin key cannot be bound to a device' });
  }
  if (req.expires !== undefined && !(Date.parse(req.expires) > now.getTime())) {
    throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'expires must be a future RFC 3339 time' });
  }
  if (req.name !== undefined && (req.name.length > 128 || /[\u0000-\u001f]/.test(req.name))) {
    throw authErrors.STRATA_ERR_AUTH_BAD_REQUEST({ reason: 'name must be at most 128 printable characters' });
  }
  return {
    scopes: scopes as KeyScope[],
    ...(req.device !== undefined && { device: req.device }),
    ...(req.name !== undefined && { name: req.name }),
    ...(req.expires !== undefined && { expires: new Date(req.expires) }),
  };
}

/** The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`, if any. */
export function presentedCredential(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}
