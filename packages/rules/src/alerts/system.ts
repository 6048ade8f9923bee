/**
 * Alerts Strata raises about itself rather than from a rule on telemetry (the scoring role's
 * model drift: rule id `ml-drift`). They live in the same `alerts` table with the same life
 * (open → acknowledged → resolved, one unresolved per rule id and device), and their events go
 * through the outbox to the `alerts` topic like any other, so the API, the SSE feed, the lake
 * and the notifiers (for rules with routes) see them the same way.
 */
import type { DeviceKind } from '@strata/core';
import type { Db } from '@strata/db';
import { compileRule } from '../engine/compile.js';
import type { Transition } from '../engine/engine.js';
import { severityRank, type AlertEvent, type Severity } from '../types.js';
import { applyTransitions } from './write.js';

export interface SystemAlertChange {
  /** `raise` opens (or counts into the unresolved alert), `update` refreshes its value, `clear` resolves it (`by: rule`). */
  kind: 'raise' | 'update' | 'clear';
  /** A rule id of its own, e.g. `ml-drift`; no rule of that id need exist. */
  ruleId: string;
  title: string;
  device: string;
  deviceKind: DeviceKind;
  severity: Severity;
  /** Unix ms. */
  ts: number;
  metric?: string;
  value?: number;
  details?: Record<string, unknown>;
}

/**
 * Writes the changes in one transaction and queues their alert events in the outbox. Hand the
 * result to `OutboxPublisher.publish(events, seqs)` (or let its poll find them).
 */
export async function applySystemAlerts(db: Db, changes: readonly SystemAlertChange[]): Promise<{ events: AlertEvent[]; seqs: number[] }> {
  if (changes.length === 0) return { events: [], seqs: [] };
  const transitions: Transition[] = changes.map((c) => ({
    kind: c.kind,
    // The alert writer reads only the rule's id, version and title.
    rule: compileRule({ rule: { id: c.ruleId, title: c.title, condition: { type: 'missing', afterSeconds: 1 } }, version: 1 }),
    device: c.device,
    deviceKind: c.deviceKind,
    severity: severityRank(c.severity),
    ts: c.ts,
    metric: c.metric,
    value: c.value,
    details: c.details,
  }));
  return db.kysely.transaction().execute((trx) => applyTransitions(trx, transitions));
}
