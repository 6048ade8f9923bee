/**
 * Applying one state batch: decode and coalesce the raw records, create the rollup partitions
 * their days need, write rows and offsets in one transaction (write.ts). This is the CPU- and
 * database-heavy half of the state consumer; it runs where the database engine runs (on the
 * database thread, see ../thread), so the thread that serves ingest only reads the stream.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { Coalescer, type InvalidRecord } from './coalesce.js';
import { RollupPartitions } from './partitions.js';
import { writeBatch, type OffsetAdvance } from './write.js';

/** Records as a few flat arrays: cheap to copy to the database thread (one block instead of 200,000 objects). */
export interface RawRecords {
  /** Every value, back to back. */
  values: Uint8Array;
  lengths: Uint32Array;
  partitions: Int32Array;
  offsets: Float64Array;
}

export interface ApplyRequest {
  consumer: string;
  topic: string;
  advances: OffsetAdvance[];
  /** Events before this UTC day get no rollup (retention). */
  firstRollupDay: number;
  records: RawRecords;
}

export interface ApplyResult {
  events: number;
  tooOld: number;
  invalid: InvalidRecord[];
  rows: { devices: number; latest: number; rollups: number };
}

/** Applies batches (throws OffsetsMoved when fenced out) and keeps the rollup partitions. */
export interface StateApplier {
  apply(req: ApplyRequest): Promise<ApplyResult>;
  /** Retention: drops the rollup partitions of days before `firstDay`; returns their names. */
  dropRollupsBefore(firstDay: number): Promise<string[]>;
}

export function packRecords(records: readonly { partition: number; offset: number; value: Uint8Array }[]): RawRecords {
  let bytes = 0;
  for (const r of records) bytes += r.value.byteLength;
  const values = new Uint8Array(bytes);
  const lengths = new Uint32Array(records.length);
  const partitions = new Int32Array(records.length);
  const offsets = new Float64Array(records.length);
  let at = 0;
  records.forEach((r, i) => {
    values.set(r.value, at);
    at += r.value.byteLength;
    lengths[i] = r.value.byteLength;
    partitions[i] = r.partition;
    offsets[i] = r.offset;
  });
  return { values, lengths, partitions, offsets };
}

/** The applier on this thread's database connection: one partition cache for writes and retention. */
export function localApplier(db: Kysely<Database>): StateApplier {
  const partitions = new RollupPartitions(db);
  return {
    dropRollupsBefore: (firstDay) => partitions.dropBefore(firstDay),
    async apply(req) {
      const coalescer = new Coalescer({ firstRollupDay: req.firstRollupDay });
      const { values, lengths, partitions: parts, offsets } = req.records;
      for (let i = 0, at = 0; i < lengths.length; at += lengths[i]!, i++) {
        coalescer.add({ partition: parts[i]!, offset: offsets[i]!, value: values.subarray(at, at + lengths[i]!) });
      }
      const rows = coalescer.rows();
      try {
        if (coalescer.days.size > 0) await partitions.ensure(coalescer.days);
        await writeBatch(db, req.consumer, req.topic, req.advances, rows);
      } catch (err) {
        partitions.forget(); // another process may have dropped one meanwhile
        throw err;
      }
      return {
        events: coalescer.events,
        tooOld: coalescer.tooOld,
        invalid: coalescer.invalid,
        rows: { devices: rows.devices.length, latest: rows.latest.length, rollups: rows.rollups.length },
      };
    },
  };
}
