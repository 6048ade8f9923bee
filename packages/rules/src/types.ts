import type { DeviceKind } from '@strata/core';

/**
 * The rules package's shared vocabulary: severities, alert states, and the alert event that goes
 * on the `alerts` topic (one change in an alert's life), which notifiers, the SSE feed and the
 * lake consume.
 */

/** Severities in increasing order: an open alert's severity only ever goes up (escalation). */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** open → acknowledged → resolved; open → resolved. One unresolved alert per rule and device. */
export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/**
 * What happened to an alert:
 * - `opened`: a rule fired for a device with no unresolved alert of that rule;
 * - `repeated`: it fired again while one was unresolved (the alert's count went up);
 * - `escalated`: its severity went up while unresolved;
 * - `acknowledged`, `resolved`: by a person (`by` set) or, for resolved, by the rule's clear
 *   condition (`by: "rule"`).
 */
export const ALERT_EVENT_TYPES = ['opened', 'repeated', 'escalated', 'acknowledged', 'resolved'] as const;
export type AlertEventType = (typeof ALERT_EVENT_TYPES)[number];

/** One change in an alert's life, as published on the `alerts` topic (JSON, keyed by device). */
export interface AlertEvent {
  /** Unique per change (UUIDv7): the idempotency key on the topic and for notifications. */
  id: string;
  type: AlertEventType;
  alert_id: string;
  rule_id: string;
  /** The rule version that fired (or, for acknowledge/resolve, that opened the alert). */
  rule_version: number;
  device: string;
  /** The device's kind, as the rules engine knew it: who may see the event. */
  device_kind: DeviceKind;
  /** The alert's severity after this change. */
  severity: Severity;
  status: AlertStatus;
  title: string;
  /** The metric and value that made the rule fire (last seen), when it is about one metric. */
  metric?: string;
  value?: number;
  /** Times the rule fired into this alert. */
  count: number;
  /** When the change happened, RFC 3339 UTC: event time for rule changes, wall time for people and clocks. */
  ts: string;
  opened_at: string;
  /** Who acknowledged or resolved (user name or key id), or `rule` for an automatic resolve. */
  by?: string;
  note?: string;
  /** Rule-specific facts, e.g. a NEWS2 breakdown: `{ score, level, partial, missing, subscores }`. */
  details?: Record<string, unknown>;
}

/** Where a rule sends notifications: a channel named in `notifications.channels`, from a severity on. */
export interface NotifyRoute {
  channel: string;
  /** Lowest severity sent to this channel. Default `info` (everything). */
  minSeverity?: Severity;
}

/** A rule's notification settings, as the notifier sees them. */
export interface RuleNotifySettings {
  routes: NotifyRoute[];
  /**
   * Critical alerts still unacknowledged this long after opening are sent to `channels`, once,
   * quiet hours or not.
   */
  escalation?: { afterSeconds: number; channels: string[] };
}

/** `HH:MM`–`HH:MM` in UTC during which a channel gets only critical alerts; others wait for the end. */
export interface QuietHours {
  from: string;
  to: string;
}

export type NotifyChannel =
  | { type: 'webhook'; url: string; /** HMAC-SHA256 key for the signature header. */ secret: string; timeoutMs?: number; quietHours?: QuietHours }
  | { type: 'email'; to: string[]; quietHours?: QuietHours };

export interface SmtpSettings {
  host: string;
  port: number;
  /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
  secure?: boolean;
  user?: string;
  password?: string;
  from: string;
}
