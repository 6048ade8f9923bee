/**
 * Password hashing with scrypt (memory-hard, in node:crypto, runs on the libuv pool so it never
 * blocks the event loop). Stored format, self-describing so parameters can be raised later
 * without invalidating existing hashes:
 *
 *   scrypt$N=16384,r=8,p=1$<16-byte salt, base64>$<32-byte hash, base64>
 *
 * N=2^14, r=8 (16 MiB) costs ~45 ms per hash on the 2-core reference machine: slow enough to make
 * offline guessing expensive, fast enough that logins do not queue. Passwords are NFKC-normalised
 * first (NIST SP 800-63B), so the same password typed on different keyboards verifies.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const COST = { N: 16384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** Bounds on parameters read back from storage: a corrupted or planted record must not cost us gigabytes or seconds. */
const MAX_MEMORY = 256 * 1024 * 1024;
const MAX_P = 16;

const STORED_PATTERN = /^scrypt\$N=(\d{1,8}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{22,}={0,2})\$([A-Za-z0-9+/]{22,}={0,2})$/;

export const PASSWORD_MIN_LENGTH = 12;
/** Bounds work per attempt and rejects pasted files; 1024 code points is far beyond any passphrase. */
export const PASSWORD_MAX_LENGTH = 1024;

/** What OpenSSL's scrypt allocates: 128·r·(N + p + 2) bytes. */
function memory({ N, r, p }: { N: number; r: number; p: number }): number {
  return 128 * r * (N + p + 2);
}

function derive(password: string, salt: Buffer, length: number, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  // Node's default cap (32 MiB) refuses N=2^15 and up, and is too close for comfort below that.
  const options: ScryptOptions = { ...cost, maxmem: 2 * memory(cost) };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, length, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, HASH_BYTES, COST);
  return `scrypt$N=${COST.N},r=${COST.r},p=${COST.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** False for a wrong password and for a stored string that is not ours or is out of bounds; never throws. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  try {
    const match = STORED_PATTERN.exec(stored);
    if (!match) return false;
    const N = Number(match[1]);
    const r = Number(match[2]);
    const p = Number(match[3]);
    if (N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1 || p > MAX_P || memory({ N, r, p }) > MAX_MEMORY) return false;
    const salt = Buffer.from(match[4]!, 'base64');
    const expected = Buffer.from(match[5]!, 'base64');
    if (salt.length < SALT_BYTES || expected.length !== HASH_BYTES) return false; // a truncated hash would still match its prefix
    const actual = await derive(password, salt, HASH_BYTES, { N, r, p });
    return timingSafeEqual(actual, expected);
  } catch {
    return false;
  }
}

/**
 * Why a new password is refused, or undefined when it is acceptable. Deliberately short (NIST
 * SP 800-63B: length beats composition rules): 12 to 1024 characters (code points, after NFKC),
 * and not drawn from a single character class (lowercase, uppercase, digits, everything else),
 * which rules out `123456789012` and `aaaaaaaaaaaa` but lets a passphrase with spaces through.
 */
export function checkPasswordPolicy(password: string): string | undefined {
  const chars = [...password.normalize('NFKC')];
  if (chars.length < PASSWORD_MIN_LENGTH) return `password must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (chars.length > PASSWORD_MAX_LENGTH) return `password must be at most ${PASSWORD_MAX_LENGTH} characters`;
  const classes = new Set(chars.map((c) => (/\p{Ll}/u.test(c) ? 'lower' : /\p{Lu}/u.test(c) ? 'upper' : /\p{Nd}/u.test(c) ? 'digit' : 'other')));
  if (classes.size < 2) return 'password must mix at least two kinds of character (lowercase, uppercase, digits, symbols or spaces)';
  return undefined;
}
