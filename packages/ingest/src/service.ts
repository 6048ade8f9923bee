import type { IngestLimits } from '@strata/core';
import { authErrors } from '@strata/auth';
import { streamErrors, type Stream } from '@strata/stream';
import { encodeEvents, MAX_ISSUES, type ParsedEvent } from './parse/index.js';
import { ingestErrors } from './errors.js';
import { prepareBatch, type Refusal } from './prepare.js';
import type { ParsePool } from './parse-pool/pool.js';
import type { AppendRecord } from '@strata/stream';

/** Bodies at least this large are parsed on the pool; smaller ones inline, where a thread hop would cost more than it saves. */
export const POOL_MIN_BYTES = 16 * 1024;

/** Hook for metrics, so this package needs no metrics library. Rejections are counted by the gateway, from the error codes. */
export interface IngestObserver {
  accepted(events: number, bytes: number, duplicates: number, appendSeconds: number): void;
}

export interface IngestOptions {
  stream: Stream;
  topic: string;
  limits: IngestLimits;
  observer?: IngestObserver;
  /** Worker threads for large bodies; without one, everything is parsed inline. */
  pool?: ParsePool;
  /**
   * With `devices.registration = known-only`: whether a device may send. A request naming any
   * device it refuses is answered 403 and writes nothing. Synchronous: an in-memory cache.
   */
  isKnownDevice?: (device: string) => boolean;
  now?: () => number;
}

/** Who is writing, as far as ingest cares: a device-bound key may only write its own device. */
export interface IngestWriter {
  device?: string;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

/**
 * The one way events enter Strata, whatever the gateway (HTTP now, MQTT later, the demo devices):
 * parse and validate the whole request, check device binding, then one durable append. Large
 * bodies are parsed on worker threads when a pool is given.
 * All-or-nothing: a request with any invalid item writes nothing. Rejections are StrataErrors;
 * a 400 carries `details.issues`, one `{index, field, reason}` per invalid item.
 */
export class IngestService {
  readonly #opts: IngestOptions;
  readonly #now: () => number;

  constructor(opts: IngestOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Parses a raw body (JSON, NDJSON, SenML) and appends it. */
  async ingestBody(body: Buffer | string, contentType: string | undefined, writer: IngestWriter, source: string): Promise<IngestResult> {
    const ctx = { nowMs: this.#now(), limits: this.#opts.limits, source, ...(writer.device !== undefined && { device: writer.device }) };
    const pool = this.#opts.pool;
    const prepared =
      pool && typeof body !== 'string' && body.length >= POOL_MIN_BYTES ? await pool.prepare(body, contentType, ctx) : prepareBatch(body, contentType, ctx);
    if (!prepared.ok) throw this.#rejection(prepared, writer);
    const known = this.#opts.isKnownDevice;
    const unknown = known && prepared.records.find((r) => !known(r.key));
    if (unknown) throw ingestErrors.STRATA_ERR_INGEST_UNKNOWN_DEVICE({ device: unknown.key });
    return this.#append(prepared.records, prepared.bytes);
  }

  #rejection(refused: Refusal, writer: IngestWriter): Error {
    const first = 'issues' in refused ? (refused.issues[0]?.reason ?? '') : '';
    switch (refused.status) {
      case 400:
        // The list stops at MAX_ISSUES plus a summary issue: past that, say so rather than miscount.
        return ingestErrors.STRATA_ERR_INGEST_INVALID({
          count: refused.issues.length > MAX_ISSUES ? `more than ${MAX_ISSUES}` : refused.issues.length,
          issues: refused.issues,
        });
      case 403:
        return authErrors.STRATA_ERR_AUTH_FORBIDDEN_DEVICE({ allowed: writer.device, device: refused.foreignDevice });
      case 413:
        return ingestErrors.STRATA_ERR_INGEST_TOO_LARGE({ reason: first });
      case 415:
        return ingestErrors.STRATA_ERR_INGEST_MEDIA_TYPE({ reason: first });
    }
  }

  /** Appends events generated in-process (demo devices), already valid: no parsing, no key. */
  async ingestEvents(events: ParsedEvent[], source: string, nowMs: number = this.#now()): Promise<IngestResult> {
    const { records, bytes } = encodeEvents(events, { nowMs, source });
    return this.#append(records, bytes);
  }

  async #append(records: AppendRecord[], bytes: number): Promise<IngestResult> {
    const started = process.hrtime.bigint();
    try {
      const result = await this.#opts.stream.append(this.#opts.topic, records);
      this.#opts.observer?.accepted(result.appended, bytes, result.duplicates, Number(process.hrtime.bigint() - started) / 1e9);
      return { accepted: records.length, duplicates: result.duplicates };
    } catch (err) {
      // The stream says "not now" (full, closed, disk): the client should retry later.
      if (streamErrors.STRATA_ERR_STREAM_FULL.is(err) || streamErrors.STRATA_ERR_STREAM_CLOSED.is(err) || streamErrors.STRATA_ERR_STREAM_IO.is(err)) {
        throw ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: err.message }, err);
      }
      throw err;
    }
  }
}
