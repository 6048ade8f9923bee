import { defineConfig } from 'vitest/config';

// `unit` runs with embedded engines only (npm test); `engines` and `engines-store` need real
// servers (npm run test:engines; the engines script installs them). Engine tests are named
// *.engines.test.ts.
/** Suites that run on the embedded database in `unit` and on a server in `engines-store`. */
const STORE_SUITES = [
  'packages/db/src/{telemetry-queries,lake-devices}.test.ts',
  'packages/auth/src/{directory,sessions}.test.ts',
  'apps/server/src/{app,security,limits}.test.ts',
  'apps/server/src/routes/*.test.ts',
  'packages/rules/src/definition/registry.test.ts',
  'packages/rules/src/alerts/*.test.ts',
  'packages/ml/src/registry/registry.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{packages,apps}/*/src/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['**/*.engines.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        // The operational store's suites again, on a real PostgreSQL 15 server instead of PGlite:
        // every test database is a fresh CREATE DATABASE on one server started for the run.
        test: {
          name: 'engines-store',
          include: STORE_SUITES,
          globalSetup: ['packages/testkit/src/postgres-global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'engines',
          include: ['{packages,apps}/*/src/**/*.engines.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
