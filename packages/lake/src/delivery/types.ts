import type { Stream } from '@strata/stream';
import type { ObjectStore } from '@strata/storage';
import type { Logger } from '@strata/core';

export interface DeliveryOptions {
  stream: Stream;
  store: ObjectStore;
  /** Topic to deliver; its records' values are UTF-8 JSON events. */
  topic: string;
  /** Consumer group (and state folder). Default `delivery`. */
  group?: string;
  /** Flush a partition once this many uncompressed bytes are buffered. Default 5 MiB. */
  flushBytes?: number;
  /** Flush a partition once its oldest buffered record has waited this long. Default 300 000 ms. */
  flushIntervalMs?: number;
  /** gzip level, 0 (store) to 9. Default 1 (see README: 2.3× faster than 6 for 6% larger objects). */
  gzipLevel?: number;
  logger?: Logger;
  /** Clock for the time-based flush and `lastFlushAt`, Unix ms. Default `Date.now`. */
  now?: () => number;
  /** Longest a stream read waits for new records; bounds how late a time-based flush or stop can be. Default 250 ms. */
  pollMs?: number;
  /** Backoff between retries of a failed flush: doubles from `minMs` to `maxMs`. Default 200 ms → 5 s. */
  retry?: { minMs?: number; maxMs?: number };
}

/** One flush unit: the records [first..last] of one partition, written as one object per zone and hour. */
export interface FlushUnitReport {
  partition: number;
  first: number;
  last: number;
  /** Objects written (raw/ and errors/). */
  keys: string[];
  /** Records written under raw/. */
  records: number;
  /** Records written under errors/. */
  errorRecords: number;
  bytesIn: number;
  bytesOut: number;
  /** True when this unit replayed a plan left by a crash. */
  recovered: boolean;
}

export interface FlushReport {
  units: FlushUnitReport[];
  objects: number;
  records: number;
  errorRecords: number;
  bytesIn: number;
  bytesOut: number;
}

export interface DeliveryStats {
  /** Flush units made durable and committed (recoveries included). */
  flushes: number;
  /** Objects written under raw/ and errors/ (state objects not counted). */
  objects: number;
  /** Records written under raw/. */
  records: number;
  /** Uncompressed bytes of the objects written. */
  bytesIn: number;
  /** gzip bytes of the objects written. */
  bytesOut: number;
  /** Records routed to errors/. */
  errorRecords: number;
  /** `now()` of the last completed flush, or null. */
  lastFlushAt: number | null;
  /** Records read and not yet durable (buffered or being written). */
  bufferedRecords: number;
  bufferedBytes: number;
  /** Failed attempts (flush, read, recovery) that were retried after a backoff. */
  retries: number;
}

export interface Delivery {
  /**
   * Reads what the stream held for this member's partitions when called, flushes every
   * buffered record, and resolves once all of it is durable and committed. Retries failures
   * with backoff; rejects with STRATA_ERR_LAKE_DELIVERY_STOPPED if stopped meanwhile.
   */
  flush(): Promise<FlushReport>;
  /** Like flush, then closes the consumer. Never rejects: what could not be written stays uncommitted and is delivered on the next start. */
  stop(): Promise<void>;
  stats(): DeliveryStats;
}
