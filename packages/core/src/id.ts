import { randomFillSync } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, then random bits, so ids sort by creation time.
 * Within one millisecond a 12-bit counter (rand_a) keeps ids from this process monotonic.
 * A clock that steps back does not make ids go back: the last time used is kept.
 * Randomness comes from a pooled buffer: one syscall per 512 ids instead of one per id.
 */
const POOL_IDS = 512;
const pool = Buffer.alloc(POOL_IDS * 8);
let poolPos = pool.length;
let lastMs = -1;
let counter = 0;
/** `tttttttt-tttt-` of the last time used: ids come in batches of one millisecond. */
let prefixMs = -1;
let prefix = '';
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomBytes8(): number {
  if (poolPos >= pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const at = poolPos;
  poolPos += 8;
  return at;
}

export function uuidv7(nowMs: number = Date.now()): string {
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = 0;
  } else if (++counter > 0xfff) {
    // Counter exhausted within one ms: borrow the next millisecond to stay monotonic.
    lastMs += 1;
    counter = 0;
  }
  if (lastMs !== prefixMs) {
    const hi = Math.floor(lastMs / 0x10000);
    const lo = lastMs & 0xffff;
    const timeHex = hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(4, '0');
    prefix = `${timeHex.slice(0, 8)}-${timeHex.slice(8)}-`;
    prefixMs = lastMs;
  }
  const r = randomBytes8();
  const randA = HEX[0x70 | (counter >> 8)]! + HEX[counter & 0xff]!;
  const variant = HEX[(pool[r]! & 0x3f) | 0x80]! + HEX[pool[r + 1]!]!;
  let tail = '';
  for (let i = 2; i < 8; i++) tail += HEX[pool[r + i]!]!;
  return `${prefix}${randA}-${variant}-${tail}`;
}

/** The creation time (Unix ms) encoded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
