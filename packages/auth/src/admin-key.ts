import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuthDirectory } from './directory.js';

/**
 * On the first start: creates an admin key, writes it to `adminKeyFile` (mode 0600, readable by
 * the operator only) and returns it so the caller can print it once. The file is durable before
 * the key's transaction commits, so a crash in between leaves no working admin key that nobody
 * has: the next start simply makes a new one.
 * Returns undefined when an active admin key exists already (a lost admin key is replaced with
 * `strata keys create --scopes admin` on the stopped server's data dir or database).
 */
export async function ensureAdminKey(directory: AuthDirectory, adminKeyFile: string): Promise<string | undefined> {
  if (directory.hasActiveAdminKey()) return undefined;
  const { key } = await directory.createKey({ scopes: ['admin'], name: 'bootstrap admin' }, { actor: 'system' }, (k) => writeFileDurably(adminKeyFile, k + '\n'));
  return key;
}

/** temp file (0600) + fsync + rename + fsync of the directory. */
function writeFileDurably(file: string, text: string): void {
  const temp = `${file}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
