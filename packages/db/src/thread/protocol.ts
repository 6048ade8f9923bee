/** Messages between a thread using the database and the database thread (worker.ts). */
import type { ApplyRequest, ApplyResult } from '../state/apply.js';

export interface WorkerConfig {
  url?: string;
  dir?: string;
  poolSize?: number;
}

export type Request =
  | { id: number; op: 'acquire' }
  | { id: number; op: 'query'; conn: number; sql: string; params: readonly unknown[] }
  | { id: number; op: 'release'; conn: number }
  | { id: number; op: 'apply'; req: ApplyRequest }
  | { id: number; op: 'dropRollupsBefore'; firstDay: number }
  | { id: number; op: 'close' };

/** An error as it crosses threads: enough to rebuild what callers test (SQLSTATE, Strata code, fencing). */
export interface WireError {
  message: string;
  /** SQLSTATE from PostgreSQL, or a STRATA_ERR_ code. */
  code?: string;
  statusCode?: number;
  details?: Record<string, unknown>;
  /** Set when the apply was fenced out (OffsetsMoved): the partitions another writer moved. */
  moved?: number[];
}

export type Reply =
  | { id: number; ok: true; conn?: number; rows?: unknown[]; affected?: string; result?: ApplyResult; dropped?: string[] }
  | { id: number; ok: false; error: WireError };

/** First message from the worker: the engine is open and migrated, or why it is not. */
export type Ready = { ready: true; engine: 'pglite' | 'postgres' } | { ready: false; error: WireError };
