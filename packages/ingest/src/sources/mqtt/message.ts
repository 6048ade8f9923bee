import { StrataError, type Logger } from '@strata/core';
import { authErrors } from '@strata/auth';
import { ingestErrors } from '../../errors.js';
import type { IngestIssue } from '../../parse/index.js';
import type { IngestResult, IngestService } from '../../service.js';
import { payloadContentType } from './payload-format.js';

/** What the MQTT gateways need of the ingest service (a stub in tests). */
export type MqttIngest = Pick<IngestService, 'ingestBody'>;

/**
 * Why a message (or a connection) was refused. Bounded, so it can be a metric label; the names
 * match the HTTP gateway's `strata_ingest_rejected_total{reason}` plus `forbidden_topic`.
 */
export type MqttRejectReason =
  | 'invalid'
  | 'too_large'
  | 'media_type'
  | 'forbidden_device'
  | 'unknown_device'
  | 'forbidden_topic'
  | 'unauthorized'
  | 'unavailable';

/** Hook for metrics, so this package needs no metrics library. Never given a device id. */
export interface MqttIngestObserver {
  /** One message made durable (for QoS 1: before its PUBACK): its events, of which `duplicates` were already in the stream. */
  accepted(events: number, duplicates: number): void;
  /** One message refused (reported on `devices/{id}/errors`), dropped or left unacknowledged (`unavailable`), or one connection refused (`unauthorized`). */
  rejected(reason: MqttRejectReason): void;
}

/** Issues listed in one error report; a report stays small whatever the payload. */
export const MAX_REPORT_ISSUES = 20;
/** Default largest payload ingested (256 KiB); larger ones are refused with a report. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

/** The JSON published on `devices/{id}/errors` for a refused message. */
export interface ErrorReport {
  /** `STRATA_ERR_…`, as in the HTTP API. */
  code: string;
  /** The HTTP status the same refusal gets over HTTP. */
  status: number;
  message: string;
  /** The topic the refused message was published to. */
  topic: string;
  /** The MQTT packet id of the refused message (QoS 1), to match it up. */
  messageId?: number;
  /** Payload size in bytes. */
  bytes: number;
  /** For invalid payloads: at most MAX_REPORT_ISSUES `{index, field, reason}`. */
  issues?: IngestIssue[];
  /** Present when issues were left out of `issues`. */
  moreIssues?: true;
  /** When Strata refused it, RFC 3339. */
  at: string;
}

/** What a gateway does with one message. */
export type Outcome =
  /** Durable: acknowledge. */
  | { kind: 'accepted'; result: IngestResult }
  /** Will never succeed as sent: acknowledge (so the client does not resend it), count, report. */
  | { kind: 'refused'; reason: MqttRejectReason; report: ErrorReport }
  /** Strata cannot take it now: do not acknowledge, so the client (or broker) delivers it again. */
  | { kind: 'unavailable'; error: Error };

export interface MessageIn {
  topic: string;
  /** The device the topic names (and the only one the payload may carry). */
  device: string;
  payload: Buffer;
  /** MQTT 5 content-type property, when the publisher set one. */
  contentType?: string;
  messageId?: number;
}

/**
 * Ingests one MQTT message through the ingest service and sorts the result: durable, refused for
 * good (4xx: bad payload, wrong device, too large), or not now (5xx, or an unexpected error).
 * Never throws.
 */
export function ingestMessage(ingest: MqttIngest, m: MessageIn, maxPayloadBytes: number): Promise<Outcome> {
  if (m.payload.length > maxPayloadBytes) {
    return Promise.resolve(refusal(m, 'too_large', ingestErrors.STRATA_ERR_INGEST_TOO_LARGE({ reason: `payload of ${m.payload.length} bytes is over the ${maxPayloadBytes}-byte limit` })));
  }
  // Not async: one promise per message on the hot path, not three.
  try {
    return ingest.ingestBody(m.payload, payloadContentType(m.payload, m.contentType), { device: m.device }, 'mqtt').then(
      (result): Outcome => ({ kind: 'accepted', result }),
      (err: unknown) => failureOutcome(m, err),
    );
  } catch (err) {
    return Promise.resolve(failureOutcome(m, err));
  }
}

/** A refusal decided by the gateway itself (wrong topic, bad device id). */
export function refusal(m: Omit<MessageIn, 'device'>, reason: MqttRejectReason, err: StrataError): Outcome {
  return { kind: 'refused', reason, report: errorReport(m, err) };
}

/** The report for a QoS 0 message dropped because Strata could not take it (nothing to resend). */
export function droppedReport(m: Omit<MessageIn, 'device'>, err: Error): ErrorReport {
  return errorReport(m, err instanceof StrataError ? err : ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: 'internal error' }));
}

/** What a failed ingest call means for a message. 4xx and 5xx told apart in one place: every known code, then by status. */
export function failureOutcome(m: MessageIn, err: unknown): Outcome {
  if (!(err instanceof StrataError)) return { kind: 'unavailable', error: err instanceof Error ? err : new Error(String(err)) };
  switch (err.code) {
    case ingestErrors.STRATA_ERR_INGEST_INVALID.code:
      return refusal(m, 'invalid', err);
    case ingestErrors.STRATA_ERR_INGEST_TOO_LARGE.code:
      return refusal(m, 'too_large', err);
    case ingestErrors.STRATA_ERR_INGEST_MEDIA_TYPE.code:
      return refusal(m, 'media_type', err);
    case authErrors.STRATA_ERR_AUTH_FORBIDDEN_DEVICE.code:
      return refusal(m, 'forbidden_device', err);
    case ingestErrors.STRATA_ERR_INGEST_UNKNOWN_DEVICE.code:
      return refusal(m, 'unknown_device', err);
    case ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE.code:
      return { kind: 'unavailable', error: err };
    default:
      return err.isUserError ? refusal(m, 'invalid', err) : { kind: 'unavailable', error: err };
  }
}

function errorReport(m: Omit<MessageIn, 'device'>, err: StrataError): ErrorReport {
  const issues = err.details.issues as IngestIssue[] | undefined;
  return {
    code: err.code,
    status: err.statusCode,
    message: err.message,
    topic: m.topic,
    ...(m.messageId !== undefined && { messageId: m.messageId }),
    bytes: m.payload.length,
    ...(Array.isArray(issues) && { issues: issues.slice(0, MAX_REPORT_ISSUES) }),
    ...(Array.isArray(issues) && issues.length > MAX_REPORT_ISSUES && { moreIssues: true as const }),
    at: new Date().toISOString(),
  };
}

/**
 * Logs Strata's availability as seen by a gateway, once per change rather than once per message:
 * WARN when appends start failing with 503 (clients resend; nothing lost), ERROR when they fail
 * with something unexpected (a bug: an operator must look), INFO when they work again.
 */
export class AvailabilityLog {
  #down = false;

  constructor(private readonly logger: Logger, private readonly component: string) {}

  failed(err: Error): void {
    if (this.#down) return;
    this.#down = true;
    if (err instanceof StrataError) this.logger.warn({ err: { code: err.code, message: err.message } }, `${this.component}: ingest unavailable; messages are not acknowledged until it recovers`);
    else this.logger.error({ err }, `${this.component}: unexpected ingest failure; messages are not acknowledged`);
  }

  succeeded(): void {
    if (!this.#down) return;
    this.#down = false;
    this.logger.info({}, `${this.component}: ingest available again`);
  }
}
