import type { Migration } from 'kysely';
import * as initial from './0001-initial.js';
import * as rules from './0002-rules.js';
import * as scans from './0003-scans.js';
import * as records from './0004-records.js';
import * as ml from './0005-ml.js';

/**
 * Every migration, in order. Names sort in the order they run; a released migration is never
 * edited, a change is a new one. Only `up`: a rollback is a restore from backup.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-initial': initial,
  '0002-rules': rules,
  '0003-scans': scans,
  '0004-records': records,
  '0005-ml': ml,
};
