import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Platform } from '@strata/server';

export const ADMIN_USERNAME = 'admin';

/**
 * The dashboard's first sign-in for the demo: on a data dir with no user at all, `strata start`
 * (web and api roles, demo devices on, as `npm start` runs it) creates the user `admin` (role admin) with a random password, saves the password to
 * `DATA/admin.password` (0600) and returns it to be printed once, like the admin key. Later
 * starts return `{ created: false }` while the file is there (the password may have been changed
 * since: the file is what was set first). Never logged.
 */
export async function ensureDashboardAdmin(platform: Platform, dataDir: string): Promise<{ username: string; password?: string; file: string } | undefined> {
  const file = join(dataDir, 'admin.password');
  const directory = platform.auth.directory;
  if (directory.listUsers().length > 0) return existsSync(file) ? { username: ADMIN_USERNAME, file } : undefined;
  // Mixed classes for the password policy; 128 random bits.
  const password = `Strata-${randomBytes(16).toString('base64url')}`;
  await directory.createUser({ username: ADMIN_USERNAME, password, role: 'admin' }, { actor: 'system' });
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return { username: ADMIN_USERNAME, password, file };
}
