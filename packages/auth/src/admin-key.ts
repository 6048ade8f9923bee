import { writeFileSync } from 'node:fs';
import type { KeyStore } from './key-store.js';

/**
 * On the first start in an empty data dir: creates an admin key, writes it to `adminKeyFile`
 * (mode 0600, readable by the operator only) and returns it so the caller can print it once.
 * Returns undefined when an active admin key exists already (a lost admin key is replaced with
 * `strata keys create --scopes admin`, which works on the data dir directly).
 */
export function ensureAdminKey(store: KeyStore, adminKeyFile: string): string | undefined {
  if (store.list().some((k) => k.scopes.includes('admin') && !k.revoked)) return undefined;
  const { key } = store.create({ scopes: ['admin'], name: 'bootstrap admin' });
  writeFileSync(adminKeyFile, key + '\n', { mode: 0o600 });
  return key;
}
