import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyStore } from './key-store.js';

/**
 * On the first start in an empty data dir: creates an admin key and writes it to `adminKeyFile`
 * (mode 0600, readable by the operator only) and returns it so the caller can print it once.
 * The file is durable before the key enters the key log, so a crash in between leaves no
 * working admin key that nobody has: the next start simply makes a new one.
 * Returns undefined when an active admin key exists already (a lost admin key is replaced with
 * `strata keys create --scopes admin`, which works on the data dir directly).
 */
export function ensureAdminKey(store: KeyStore, adminKeyFile: string): string | undefined {
  if (store.list().some((k) => k.scopes.includes('admin') && !k.revoked)) return undefined;
  const { key } = store.create({ scopes: ['admin'], name: 'bootstrap admin' }, new Date(), (k) => writeFileDurably(adminKeyFile, k + '\n'));
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
