/**
 * Short-lived access tokens for signed-in users: compact JWS, HS256 with a server secret.
 * Only HS256 is ever accepted (no `none`, no RS/HS confusion, no other HMAC sizes), tokens carry
 * `typ: at+jwt` (RFC 9068) so no other JWT signed with the same secret passes as an access token,
 * and every claim we rely on must be present. Revocation is by short TTL plus the session store
 * (refresh tokens), not here.
 */
import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { isRole, type Role } from './roles.js';

/** The claims of a valid access token. */
export interface AccessClaims {
  /** User id. */
  sub: string;
  role: Role;
  username: string;
  /** Unique token id, for audit lines and deny-lists. */
  jti: string;
  iss: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

export interface TokenSignerOptions {
  /** `iss` claim, checked on verify; default `strata`. */
  issuer?: string;
  /** Lifetime of a token; also the oldest `iat` accepted, so lowering it cuts existing tokens. */
  ttlSeconds: number;
}

export interface TokenSigner {
  sign(claims: { sub: string; role: Role; username: string }, nowSec?: number): Promise<{ token: string; expiresAt: Date }>;
  /** The claims, or undefined for any token that is not a valid, current access token of ours; never throws. */
  verify(token: string, nowSec?: number): Promise<AccessClaims | undefined>;
}

const ALG = 'HS256';
const TYP = 'at+jwt';
/** Servers behind one load balancer drift by a second or two, not more. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** HS256 keys shorter than the hash add no strength (RFC 7518 §3.2). */
const MIN_SECRET_BYTES = 32;
/** Our tokens are a few hundred bytes; refuse to parse anything far larger. */
const MAX_TOKEN_LENGTH = 4096;

/** Throws (at boot, from config) on a short secret or a bad TTL; after that nothing throws. */
export function createTokenSigner(secret: Uint8Array, opts: TokenSignerOptions): TokenSigner {
  if (secret.byteLength < MIN_SECRET_BYTES) throw new RangeError(`the token secret must be at least ${MIN_SECRET_BYTES} bytes`);
  if (!Number.isSafeInteger(opts.ttlSeconds) || opts.ttlSeconds <= 0) throw new RangeError('ttlSeconds must be a positive integer');
  const issuer = opts.issuer ?? 'strata';
  const ttl = opts.ttlSeconds;
  // Imported once, not per call as jose does for raw bytes; non-extractable, and a copy, so the caller's buffer may be wiped.
  const key = crypto.subtle.importKey('raw', Uint8Array.from(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);

  return {
    async sign({ sub, role, username }, nowSec = Date.now() / 1000) {
      const iat = Math.floor(nowSec);
      const token = await new SignJWT({ role, username })
        .setProtectedHeader({ alg: ALG, typ: TYP })
        .setIssuer(issuer)
        .setSubject(sub)
        .setJti(randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttl)
        .sign(await key);
      return { token, expiresAt: new Date((iat + ttl) * 1000) };
    },

    async verify(token, nowSec) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return undefined;
      try {
        const { payload: p } = await jwtVerify(token, await key, {
          algorithms: [ALG],
          typ: TYP,
          issuer,
          requiredClaims: ['exp', 'iat', 'sub', 'jti', 'role'],
          maxTokenAge: ttl,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          ...(nowSec !== undefined && { currentDate: new Date(nowSec * 1000) }),
        });
        const { sub, role, username, jti, iat, exp } = p;
        if (typeof sub !== 'string' || sub === '' || !isRole(role) || typeof username !== 'string' || typeof jti !== 'string') return undefined;
        if (typeof iat !== 'number' || typeof exp !== 'number') return undefined; // jose checked both exist and are numeric dates
        return { sub, role, username, jti, iss: issuer, iat, exp };
      } catch {
        return undefined; // jose's JOSEError family, and TypeError for structurally odd input: all mean "not valid"
      }
    },
  };
}
