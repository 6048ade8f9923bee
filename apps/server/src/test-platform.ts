import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@strata/config';
import { tempDir } from '@strata/testkit';
import { createServerDatabase, seedEmbeddedDatabase, testServerUrl } from '@strata/db/testing';
import { createLogger } from './logger.js';
import { startPlatform, type Platform } from './platform.js';

export interface TestPlatform {
  platform: Platform;
  adminKey: string;
  dataDir: string;
  /** Stops the platform and removes its data dir. */
  close(): Promise<void>;
}

/** A whole platform on embedded engines in a temp dir (the database: `db.url`, else the test server's, else embedded), port 0, no demo devices, silent logs (or `log.level` logs to `logTo`). */
export async function startTestPlatform(
  overrides: Record<string, unknown> = {},
  logTo?: NodeJS.WritableStream,
  /** Runs on the data dir before the platform starts (to lay down files a test needs there). */
  prepare?: (dataDir: string) => void,
): Promise<TestPlatform> {
  const tmp = tempDir('server');
  const server = 'db.url' in overrides ? undefined : testServerUrl();
  const db = server ? { 'db.url': await createServerDatabase(server) } : {};
  if (!server && !('db.url' in overrides)) await seedEmbeddedDatabase(join(tmp.dir, 'db')); // skips initdb: ~1 s instead of ~5 s
  const config = loadConfig({
    overrides: { dataDir: tmp.dir, 'http.port': 0, 'mqtt.port': 0, 'demo.enabled': false, 'log.level': 'silent', ...db, ...overrides },
  });
  prepare?.(tmp.dir);
  const platform = await startPlatform(config, createLogger(config.log, logTo));
  // Processes without the api role make no admin key: the test gets one all the same.
  const adminKey = existsSync(join(tmp.dir, 'admin.key'))
    ? readFileSync(join(tmp.dir, 'admin.key'), 'utf8').trim()
    : (await platform.auth.directory.createKey({ scopes: ['admin'], name: 'test admin' }, { actor: 'test' })).key;
  return {
    platform,
    adminKey,
    dataDir: tmp.dir,
    async close() {
      await platform.stop();
      tmp.remove();
    },
  };
}
