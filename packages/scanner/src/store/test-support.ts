/** Test support for the store tests: a migrated embedded database per test file. */
import { afterAll, beforeAll } from 'vitest';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import type { ScanDb } from './findings-store.js';

/** Opens a test database before the file's tests and disposes of it after; call the result inside a test. */
export function useScanDb(): () => ScanDb {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await openTestDatabase();
  });
  afterAll(async () => db?.dispose());
  return () => db!.kysely as unknown as ScanDb;
}
