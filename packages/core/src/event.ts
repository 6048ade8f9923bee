/**
 * The event model shared by every part of Strata (see DESIGN.md, "Event").
 * One device at one instant with one or more numeric metrics.
 */
export interface TelemetryEvent {
  /** Client-supplied idempotency key, or a UUIDv7 assigned at ingest. */
  id: string;
  /** Device id, matching DEVICE_ID_PATTERN. */
  device: string;
  /** Event time, RFC 3339 UTC with milliseconds (`2025-12-04T12:00:00.000Z`). */
  ts: string;
  metrics: Record<string, number>;
  tags?: Record<string, string>;
  /** When ingest received it, RFC 3339 UTC with milliseconds. */
  received_at: string;
  /** Which gateway took it in: `http`, `mqtt`, `demo`, ... */
  source: string;
}

/** What a device is: kinds decide who may see it (patients are health data). */
export const DEVICE_KINDS = ['machine', 'patient', 'sensor'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/** Device ids and client event ids: safe in object keys, URLs, topics and file names. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const EVENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** Metric names: like device ids, plus `/` for SenML-style hierarchical names. */
export const METRIC_NAME_PATTERN = /^[A-Za-z0-9._:/-]{1,128}$/;
export const TAG_KEY_PATTERN = /^[A-Za-z0-9._:/-]{1,128}$/;

/** Ingest limits; every one is configurable (see @strata/config). */
export interface IngestLimits {
  maxEventsPerRequest: number;
  maxMetricsPerEvent: number;
  maxTagsPerEvent: number;
  maxTagValueLength: number;
  /** How far ahead of the server clock an event time may be, in ms. */
  maxFutureMs: number;
  /** Earliest accepted event time, Unix ms. */
  minTimestampMs: number;
}

export const DEFAULT_INGEST_LIMITS: Readonly<IngestLimits> = Object.freeze({
  maxEventsPerRequest: 10_000,
  maxMetricsPerEvent: 100,
  maxTagsPerEvent: 32,
  maxTagValueLength: 256,
  maxFutureMs: 24 * 3600 * 1000,
  minTimestampMs: Date.UTC(2000, 0, 1),
});
