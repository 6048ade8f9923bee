import type { Logger } from '@strata/core';
import type { Db } from '@strata/db';
import type { Stream } from '@strata/stream';
import type { NotifyChannel, RuleNotifySettings, SmtpSettings } from '../types.js';

export interface NotifierOptions {
  db: Db;
  stream: Stream;
  /** Topic of AlertEvent JSON. Default `alerts`. */
  topic?: string;
  /** Consumer group. Default `notify`. */
  group?: string;
  /** Channels by name, as routes and escalations name them. */
  channels: Readonly<Record<string, NotifyChannel>>;
  /** Needed only by email channels: without it their deliveries fail (STRATA_ERR_NOTIFY_NO_SMTP). */
  smtp?: SmtpSettings;
  /** The notify settings of a rule version (undefined: the rule sends nothing). May be async; a throw is retried. */
  settingsFor(ruleId: string, version: number): RuleNotifySettings | undefined | Promise<RuleNotifySettings | undefined>;
  /** Failed sends are retried after min(maxMs, minMs·2^(attempt-1)) ±20 %; dead after maxAttempts. Default 8, 1 s, 5 min. */
  retry?: { maxAttempts?: number; minMs?: number; maxMs?: number };
  /** How often due deliveries are looked for. Default 1000 ms. */
  pollMs?: number;
  /** Clock (Unix ms) for scheduling: quiet hours, escalation, retries. Default `Date.now`. */
  now?: () => number;
  logger?: Logger;
}

/** Counters since start; `queued` is the rows pending now (refreshed each delivery pass). */
export interface NotifierStats {
  delivered: number;
  failedAttempts: number;
  dead: number;
  cancelled: number;
  queued: number;
  /** Stream records skipped because they are not AlertEvent JSON. */
  invalid: number;
  /** Routes or escalations skipped because they name a channel that is not configured. */
  unknownChannel: number;
}

export interface Notifier {
  stats(): NotifierStats;
  /** Sends every delivery due now (the loop calls it every pollMs; tests call it directly). Resolves when done. */
  runDue(): Promise<void>;
  /** Stops reading and polling; waits (about 5 s at most) for sends in flight. Never rejects. */
  stop(): Promise<void>;
}

export type NotificationStatus = 'pending' | 'delivered' | 'dead' | 'cancelled';

export interface NotificationQuery {
  status?: NotificationStatus;
  alertId?: string;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Id cursor: rows older than this one (newest first). */
  before?: string;
}

export interface NotificationView {
  id: string;
  eventId: string;
  alertId: string;
  channel: string;
  status: NotificationStatus;
  attempts: number;
  /** RFC 3339. */
  nextAttempt: string;
  lastError: string | null;
  created: string;
  updated: string;
  escalation: boolean;
}
