import type { IngestLimits } from '@strata/core';
import type { Principal } from '@strata/auth';
import { authErrors } from '@strata/auth';
import { streamErrors, type Stream } from '@strata/stream';
import { encodeEvents, parseIngestBody, type ParsedEvent } from './parse/index.js';
import { ingestErrors } from './errors.js';

/** Why a request was turned away; bounded, so it can be a metric label. */
export type RejectReason = 'invalid' | 'too_large' | 'media_type' | 'forbidden_device' | 'unavailable';

/** Hooks for metrics, so this package needs no metrics library. */
export interface IngestObserver {
  accepted(events: number, bytes: number, duplicates: number, appendSeconds: number): void;
  rejected(reason: RejectReason): void;
}

export interface IngestOptions {
  stream: Stream;
  topic: string;
  limits: IngestLimits;
  observer?: IngestObserver;
  now?: () => number;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

/**
 * The one way events enter Strata, whatever the gateway (HTTP now, MQTT later, the demo devices):
 * parse and validate the whole request, check device binding, then one durable append.
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
  async ingestBody(body: Buffer | string, contentType: string | undefined, principal: Principal, source: string): Promise<IngestResult> {
    const nowMs = this.#now();
    const parsed = parseIngestBody(body, contentType, { nowMs, limits: this.#opts.limits });
    if (parsed.ok) return this.ingestEvents(parsed.events, principal, source, nowMs);
    const first = parsed.issues[0]?.reason ?? '';
    switch (parsed.status) {
      case 400:
        this.#opts.observer?.rejected('invalid');
        throw ingestErrors.STRATA_ERR_INGEST_INVALID({ count: parsed.issues.length, issues: parsed.issues });
      case 413:
        this.#opts.observer?.rejected('too_large');
        throw ingestErrors.STRATA_ERR_INGEST_TOO_LARGE({ reason: first });
      case 415:
        this.#opts.observer?.rejected('media_type');
        throw ingestErrors.STRATA_ERR_INGEST_MEDIA_TYPE({ reason: first });
    }
  }

  /** Appends events already parsed and validated (by `parseIngestBody` or a trusted generator). */
  async ingestEvents(events: ParsedEvent[], principal: Principal, source: string, nowMs: number = this.#now()): Promise<IngestResult> {
    if (principal.device !== undefined) {
      const other = events.find((e) => e.device !== principal.device);
      if (other) {
        this.#opts.observer?.rejected('forbidden_device');
        throw authErrors.STRATA_ERR_AUTH_FORBIDDEN_DEVICE({ allowed: principal.device, device: other.device });
      }
    }
    const { records, bytes } = encodeEvents(events, { nowMs, source });
    const started = process.hrtime.bigint();
    try {
      const result = await this.#opts.stream.append(this.#opts.topic, records);
      this.#opts.observer?.accepted(result.appended, bytes, result.duplicates, Number(process.hrtime.bigint() - started) / 1e9);
      return { accepted: events.length, duplicates: result.duplicates };
    } catch (err) {
      // The stream says "not now" (full, closed, disk): the client should retry later.
      if (streamErrors.STRATA_ERR_STREAM_FULL.is(err) || streamErrors.STRATA_ERR_STREAM_CLOSED.is(err) || streamErrors.STRATA_ERR_STREAM_IO.is(err)) {
        this.#opts.observer?.rejected('unavailable');
        throw ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: err.message }, err);
      }
      throw err;
    }
  }
}
