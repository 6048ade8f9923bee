import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@strata/config';
import { tempDir } from '@strata/testkit';
import { createLogger } from './logger.js';
import { startPlatform, type Platform } from './platform.js';

export interface TestPlatform {
  platform: Platform;
  adminKey: string;
  dataDir: string;
  /** Stops the platform and removes its data dir. */
  close(): Promise<void>;
}

/** A whole platform on embedded engines in a temp dir, port 0, no demo devices, silent logs. */
export async function startTestPlatform(overrides: Record<string, unknown> = {}): Promise<TestPlatform> {
  const tmp = tempDir('server');
  const config = loadConfig({
    overrides: { dataDir: tmp.dir, 'http.port': 0, 'demo.enabled': false, 'log.level': 'silent', ...overrides },
  });
  const platform = await startPlatform(config, createLogger(config.log));
  const adminKey = readFileSync(join(tmp.dir, 'admin.key'), 'utf8').trim();
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
