import { expect, it } from 'vitest';
import type { NotifyChannel, RuleNotifySettings } from '../types.js';
import { parseAlertEvent } from './event.js';
import { planNotifications } from './plan.js';
import { T0, alertEvent } from './test-support.js';

const hook: NotifyChannel = { type: 'webhook', url: 'http://127.0.0.1/h', secret: 'x' };
const channels = { ops: hook, oncall: hook };
const settings: RuleNotifySettings = { routes: [{ channel: 'ops' }, { channel: 'ops', minSeverity: 'high' }], escalation: { afterSeconds: 60, channels: ['oncall', 'pager'] } };
const plan = (over: Parameters<typeof alertEvent>[0]) => planNotifications(alertEvent(over), settings, channels, T0 + 5_000);

it('plans one row per channel, and escalation rows for critical opened/escalated events only', () => {
  const opened = plan({ severity: 'critical', type: 'opened' });
  expect(opened.rows.map((r) => [r.channel, r.payload.escalation, r.nextAttempt - T0])).toEqual([
    ['ops', false, 5_000],
    ['oncall', true, 60_000],
  ]);
  expect(opened.rows[1]!.eventId).toMatch(/:escalation$/);
  expect(opened.unknown).toEqual(['pager']);
  expect(plan({ severity: 'critical', type: 'escalated' }).rows).toHaveLength(2);
  expect(plan({ severity: 'critical', type: 'resolved', status: 'resolved' }).rows.map((r) => r.channel)).toEqual(['ops']);
  expect(plan({ severity: 'high', type: 'opened' }).rows.map((r) => r.channel)).toEqual(['ops']);
  expect(plan({ severity: 'critical', type: 'repeated' }).rows).toEqual([]);
  expect(plan({ severity: 'critical', type: 'acknowledged', status: 'acknowledged' }).rows).toEqual([]);
});

it('parses alert events and gives a short reason for anything else', () => {
  const e = alertEvent();
  expect(parseAlertEvent(Buffer.from(JSON.stringify(e)))).toEqual({ event: e });
  expect(parseAlertEvent(Buffer.from('{oops'))).toMatchObject({ reason: expect.stringMatching(/^not JSON/) });
  expect(parseAlertEvent(Buffer.from('[1]'))).toEqual({ reason: 'not a JSON object' });
  expect(parseAlertEvent(Buffer.from(JSON.stringify({ ...e, severity: 'huge', opened_at: 'never' })))).toEqual({ reason: 'not an alert event: bad or missing severity, opened_at' });
});
