import { severityRank, type AlertEvent, type NotifyChannel, type RuleNotifySettings } from '../types.js';
import type { NotifyPayload } from './event.js';
import { quietHoursEnd } from './quiet-hours.js';

/** Event types that notify; `repeated` and `acknowledged` do not. */
const NOTIFYING = new Set<AlertEvent['type']>(['opened', 'escalated', 'resolved']);

export const notifies = (event: AlertEvent): boolean => NOTIFYING.has(event.type);

export interface PlannedRow {
  eventId: string;
  alertId: string;
  channel: string;
  nextAttempt: number;
  payload: NotifyPayload;
}

/** When a non-escalation send to `channel` may go: after its quiet hours, unless critical. */
export function notBefore(channel: NotifyChannel, payload: Pick<NotifyPayload, 'severity' | 'escalation'>, t: number): number {
  if (payload.severity === 'critical' || payload.escalation) return t;
  return quietHoursEnd(channel.quietHours, t) ?? t;
}

/**
 * The notifications one event makes: one per route it passes (by severity), plus, for a critical
 * `opened`/`escalated` event of a rule with an escalation, one per escalation channel, due
 * `afterSeconds` after the alert opened. Routes to channels not configured are returned apart.
 */
export function planNotifications(
  event: AlertEvent,
  settings: RuleNotifySettings | undefined,
  channels: Readonly<Record<string, NotifyChannel>>,
  now: number,
): { rows: PlannedRow[]; unknown: string[] } {
  const rows: PlannedRow[] = [];
  const unknown: string[] = [];
  if (!settings || !notifies(event)) return { rows, unknown };
  const add = (channel: string, escalation: boolean, at: number): void => {
    const ch = Object.hasOwn(channels, channel) ? channels[channel] : undefined;
    if (!ch) {
      unknown.push(channel);
      return;
    }
    const eventId = escalation ? `${event.id}:escalation` : event.id;
    if (rows.some((r) => r.eventId === eventId && r.channel === channel)) return;
    const payload = { ...event, escalation };
    rows.push({ eventId, alertId: event.alert_id, channel, nextAttempt: escalation ? at : notBefore(ch, payload, at), payload });
  };
  for (const route of settings.routes) {
    if (severityRank(event.severity) >= severityRank(route.minSeverity ?? 'info')) add(route.channel, false, now);
  }
  const esc = settings.escalation;
  if (esc && event.severity === 'critical' && (event.type === 'opened' || event.type === 'escalated')) {
    const due = Date.parse(event.opened_at) + esc.afterSeconds * 1000;
    for (const channel of esc.channels) add(channel, true, due);
  }
  return { rows, unknown };
}
