import { ALERT_EVENT_TYPES, ALERT_STATUSES, SEVERITIES, type AlertEvent } from '../types.js';

/** A notification's payload: the alert event, and whether this copy is an escalation. */
export type NotifyPayload = AlertEvent & { escalation: boolean };

const MAX_REASON = 200;

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isTime = (v: unknown): boolean => typeof v === 'string' && Number.isFinite(Date.parse(v));
const oneOf = (list: readonly string[], v: unknown): boolean => typeof v === 'string' && list.includes(v);

/** Decodes one stream record as an AlertEvent, or returns a short reason why it is not one. */
export function parseAlertEvent(value: Uint8Array): { event: AlertEvent } | { reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch (err) {
    return { reason: `not JSON: ${(err as Error).message}`.slice(0, MAX_REASON) };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { reason: 'not a JSON object' };
  const e = raw as Record<string, unknown>;
  const missing = [
    !isText(e.id) && 'id',
    !oneOf(ALERT_EVENT_TYPES, e.type) && 'type',
    !isText(e.alert_id) && 'alert_id',
    !isText(e.rule_id) && 'rule_id',
    !Number.isSafeInteger(e.rule_version) && 'rule_version',
    !isText(e.device) && 'device',
    !oneOf(SEVERITIES, e.severity) && 'severity',
    !oneOf(ALERT_STATUSES, e.status) && 'status',
    typeof e.title !== 'string' && 'title',
    typeof e.count !== 'number' && 'count',
    !isTime(e.ts) && 'ts',
    !isTime(e.opened_at) && 'opened_at',
  ].filter((f): f is string => f !== false);
  if (missing.length > 0) return { reason: `not an alert event: bad or missing ${missing.join(', ')}` };
  return { event: e as unknown as AlertEvent };
}
