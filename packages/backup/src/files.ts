/** Reading a sealed file of a backup back, every check naming the file that failed it. */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { ObjectStore } from '@strata/storage';
import { envelope, sha256 } from './crypto.js';

const gunzipAsync = promisify(gunzip);

/** A file of the backup that is missing, truncated, altered or does not decrypt. */
export class DamagedFile extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'DamagedFile';
  }
}

export interface SealedRef {
  path: string;
  size: number;
  sha256: string;
  plainSha256: string;
}

/** The plaintext of a sealed file (AAD = its path), after checking size, checksums and the GCM tag. */
export async function readSealed(store: ObjectStore, ref: SealedRef, key: Buffer, opts: { gzip: boolean }): Promise<Buffer> {
  const sealed = await store.get(ref.path);
  if (!sealed) throw new DamagedFile(ref.path, 'missing');
  if (sealed.length !== ref.size) throw new DamagedFile(ref.path, `${sealed.length < ref.size ? 'truncated' : 'too long'}: ${sealed.length} bytes, the manifest says ${ref.size}`);
  if (sha256(sealed) !== ref.sha256) throw new DamagedFile(ref.path, 'checksum mismatch (altered)');
  let plain: Buffer;
  try {
    plain = envelope.open(key, sealed, ref.path);
    if (opts.gzip) plain = await gunzipAsync(plain);
  } catch (err) {
    throw new DamagedFile(ref.path, `does not decrypt: ${(err as Error).message}`);
  }
  if (sha256(plain) !== ref.plainSha256) throw new DamagedFile(ref.path, 'content checksum mismatch');
  return plain;
}

/** NDJSON lines (each with its \n) of a table part. */
export function splitLines(plain: Buffer): string[] {
  const text = plain.toString('utf8');
  const lines: string[] = [];
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', start)) {
    lines.push(text.slice(start, i + 1));
    start = i + 1;
  }
  return lines;
}
