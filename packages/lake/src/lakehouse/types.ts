/**
 * The lakehouse's public types: raw → bronze → silver → gold jobs (issue 4), and the tables
 * `strata sql` / `POST /v1/query` read. See the package README for the layout and the rules.
 */
import type { Logger } from '@strata/core';
import type { ObjectStore } from '@strata/storage';

export const LAKE_LAYERS = ['bronze', 'silver', 'gold'] as const;
export type LakeLayer = (typeof LAKE_LAYERS)[number];

/** What silver takes from the operational store for one device. */
export interface DeviceMeta {
  id: string;
  kind: string;
  site: string | null;
  model: string | null;
  /** The device's nominal sampling interval (metadata `sampleIntervalSeconds`); completeness infers it when null. */
  sampleIntervalSeconds: number | null;
}

export interface LakeSettings {
  /** An event is late when it was received more than this after its event time. */
  lateAfterMs: number;
  /** A value is an outlier when it is more than this many standard deviations from its device-metric-day mean. */
  outlierSigma: number;
  /** Compacted Parquet files aim at this size (the 64–256 MiB band). */
  targetFileBytes: number;
  /** A bronze day partition holding more files than this is compacted into files of `targetFileBytes`. */
  maxFilesPerPartition: number;
  /** Raw objects read per bronze batch, by compressed bytes (bounds memory). */
  batchBytes: number;
  /** Day partitions older than this many days are dropped (0 keeps them forever). */
  retentionDays: { bronze: number; quarantine: number; silver: number; gold: number };
  /** DuckDB's memory limit (it spills to the staging directory beyond it), e.g. `2GB`. */
  memoryLimit: string;
  /** DuckDB worker threads. */
  threads: number;
}

export interface LakeOptions {
  /** The lake's object store (raw/ is delivery's; the jobs write bronze/, quarantine/, silver/, gold/, _state/lake/). */
  store: ObjectStore;
  /** Local scratch space for DuckDB's spills and for staging objects of stores without `localPath`. */
  stagingDir: string;
  /** Key of the HMAC that pseudonymises device ids in silver and gold (a platform secret). */
  pseudonymKey: Uint8Array;
  /** Device metadata from the operational store, read at each silver build. */
  devices: () => Promise<DeviceMeta[]>;
  /**
   * Ids of devices whose data was erased (GDPR), read at each bronze run: bronze drops their
   * events and quarantine rows (counted as `erased`), so a re-delivery or a replay of what the
   * stream still held cannot bring them back. Default: none.
   */
  erasedDevices?: () => Promise<Iterable<string>>;
  /** Topic whose raw zone is read. Default `telemetry`. */
  topic?: string;
  settings?: Partial<LakeSettings>;
  logger?: Logger;
  /** Clock for retention (tests pass a fake one). */
  now?: () => number;
}

export interface RunOptions {
  /** Layers to run, in order; default all three. */
  layers?: readonly LakeLayer[];
  /**
   * Unix ms. Bronze only lists raw objects of event hours at or after it; silver and gold also
   * rebuild every day partition from that day on, even if up to date (e.g. after device
   * metadata changed).
   */
  since?: number;
}

export interface LayerSummary {
  layer: LakeLayer;
  /** Input objects (raw objects for bronze, Parquet files for silver and gold). */
  objectsRead: number;
  rowsRead: number;
  rowsWritten: number;
  /** Bronze: rows sent to quarantine/. */
  quarantined: number;
  /** Bronze: events dropped as duplicates of an event id already in bronze or earlier in the batch. */
  duplicates: number;
  /** Bronze: events and quarantine rows dropped because their device is in `erasedDevices`. */
  erased: number;
  /** Day partitions (YYYY-MM-DD) written. */
  partitions: string[];
  /** Day partitions dropped by retention. */
  dropped: string[];
  seconds: number;
}

export interface RunSummary {
  layers: LayerSummary[];
  seconds: number;
}

/** Who asks: analysts only ever see silver and gold. */
export type QueryRole = 'admin' | 'analyst';
