import { defineConfig } from 'vitest/config';

// Two suites: `unit` runs with embedded engines only (npm test); `engines` needs real servers
// started by the engines script (npm run test:engines). Engine tests are named *.engines.test.ts.
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
