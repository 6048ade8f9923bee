#!/usr/bin/env node
// Builds the dashboard (vite build) when dist/ is missing or older than any of its sources, so
// `npm ci && npm start` serves it at `/` on a fresh clone. Run by the root `prestart` script and
// by the browser tests; a no-op (milliseconds) when the build is current.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const app = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(app, 'dist', 'index.html');

function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newest(join(path, name))), s.mtimeMs);
}

const sources = ['src', 'index.html', 'vite.config.ts', 'package.json'].map((p) => join(app, p)).filter(existsSync);
const stale = !existsSync(built) || statSync(built).mtimeMs < Math.max(...sources.map(newest));
if (stale) {
  process.stdout.write('Building the dashboard (apps/dashboard, vite build)...\n');
  const vite = join(app, '..', '..', 'node_modules', 'vite', 'bin', 'vite.js');
  // NODE_ENV pinned: run from a test runner (NODE_ENV=test) Vite would bundle React's development build.
  const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: app, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
  if (result.status !== 0) {
    process.stderr.write('The dashboard build failed: the server still starts, and / says the dashboard is not built.\n');
    process.exit(0); // the platform does not need the dashboard to run
  }
}
