import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '@strata/testkit';
import type { NotifyChannel, RuleNotifySettings } from '../types.js';
import { listNotifications, notifyErrors, retryNotification, startNotifier, type Notifier, type NotifierOptions } from './index.js';
import { T0, alertEvent, insertAlert, iso, openEnv, parseMail, startMailServer, startReceiver, waitFor, type Env, type Receiver } from './test-support.js';

const SECRET = 'whsec-test-0123456789';

let env: Env;
let t: number;
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  t = T0;
  env = await openEnv();
  cleanups.push(() => env.close());
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function receiver(answer?: (n: number) => number | 'hang'): Promise<Receiver> {
  const r = await startReceiver(SECRET, answer);
  cleanups.push(() => r.close());
  return r;
}

const webhook = (r: Receiver, extra: Partial<NotifyChannel> = {}): NotifyChannel => ({ type: 'webhook', url: r.url, secret: SECRET, ...extra }) as NotifyChannel;

/** A notifier on the test clock `t`, polling only when the test calls runDue() (unless pollMs is given). */
async function notifier(channels: Record<string, NotifyChannel>, settings: RuleNotifySettings | undefined, over: Partial<NotifierOptions> = {}): Promise<Notifier> {
  const n = await startNotifier({
    db: env.db,
    stream: env.stream,
    channels,
    settingsFor: async () => settings,
    retry: { minMs: 1_000, maxMs: 60_000 },
    pollMs: 3_600_000,
    now: () => t,
    ...over,
  });
  cleanups.push(() => n.stop());
  return n;
}

const rows = (q: Parameters<typeof listNotifications>[1] = {}) => listNotifications(env.db, q);

describe('webhook', () => {
  it('delivers a signed webhook carrying the alert, from the background loop', async () => {
    const r = await receiver();
    const n = await notifier({ ops: webhook(r) }, { routes: [{ channel: 'ops' }] }, { pollMs: 20 });
    const event = alertEvent();
    await env.publish(event);

    await waitFor(() => n.stats().delivered === 1 && n.stats().queued === 0, 'delivery');
    expect(r.badSignatures).toBe(0);
    const [row] = await rows();
    expect(row).toMatchObject({ eventId: event.id, alertId: event.alert_id, channel: 'ops', status: 'delivered', attempts: 1, lastError: null, escalation: false });
    expect(r.delivered()).toEqual([{ delivery: row!.id, attempt: 1, escalation: false, alert: event }]);
    expect(r.received[0]!.deliveryHeader).toBe(row!.id);
  });

  it('retries a failing receiver with backoff and delivers on the third attempt', async () => {
    const r = await receiver((k) => (k <= 2 ? 500 : 200));
    const n = await notifier({ ops: webhook(r) }, { routes: [{ channel: 'ops' }] });
    await env.publish(alertEvent());
    await env.caughtUp();

    await n.runDue();
    let [row] = await rows();
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lastError: 'HTTP 500' });
    const first = Date.parse(row!.nextAttempt) - t;
    expect(first).toBeGreaterThanOrEqual(800);
    expect(first).toBeLessThanOrEqual(1_200);

    await n.runDue(); // not due yet
    expect(r.received).toHaveLength(1);

    t += 1_200;
    await n.runDue();
    [row] = await rows();
    expect(row).toMatchObject({ status: 'pending', attempts: 2, lastError: 'HTTP 500' });
    const second = Date.parse(row!.nextAttempt) - t;
    expect(second).toBeGreaterThanOrEqual(1_600);
    expect(second).toBeLessThanOrEqual(2_400);

    t += 2_400;
    await n.runDue();
    [row] = await rows();
    expect(row).toMatchObject({ status: 'delivered', attempts: 3, lastError: null });
    expect(r.received.map((x) => [x.body.delivery, x.body.attempt])).toEqual([1, 2, 3].map((a) => [row!.id, a]));
    expect(n.stats()).toMatchObject({ delivered: 1, failedAttempts: 2, dead: 0, queued: 0 });
  });

  it('dead-letters after maxAttempts; retryNotification puts it back and it is delivered', async () => {
    let failing = true;
    const r = await receiver(() => (failing ? 503 : 200));
    const logger = memoryLogger();
    const n = await notifier({ ops: webhook(r) }, { routes: [{ channel: 'ops' }] }, { retry: { maxAttempts: 3, minMs: 1_000, maxMs: 5_000 }, logger });
    const event = alertEvent();
    await env.publish(event);
    await env.caughtUp();

    for (let i = 0; i < 3; i++) {
      await n.runDue();
      t += 5_000 * 1.2;
    }
    const dead = await rows({ status: 'dead' });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ alertId: event.alert_id, channel: 'ops', attempts: 3, lastError: 'HTTP 503' });
    expect(n.stats()).toMatchObject({ dead: 1, failedAttempts: 3, delivered: 0, queued: 0 });
    expect(logger.lines.some((l) => l.level === 'warn' && l.obj.alertId === event.alert_id && l.obj.channel === 'ops')).toBe(true);
    expect(JSON.stringify(logger.lines)).not.toContain(SECRET);

    expect(await retryNotification(env.db, 'no-such-id', t)).toBe(false);
    failing = false;
    expect(await retryNotification(env.db, dead[0]!.id, t)).toBe(true);
    expect(await retryNotification(env.db, dead[0]!.id, t)).toBe(false); // pending now, not dead
    expect((await rows())[0]).toMatchObject({ status: 'pending', attempts: 0, nextAttempt: iso(t) });

    await n.runDue();
    expect((await rows())[0]).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(r.delivered()).toHaveLength(1);
  });

  it('counts a receiver that does not answer within timeoutMs as a failed attempt', async () => {
    const r = await receiver(() => 'hang');
    const n = await notifier({ ops: webhook(r, { timeoutMs: 200 }) }, { routes: [{ channel: 'ops' }] }, { retry: { maxAttempts: 1 } });
    await env.publish(alertEvent());
    await env.caughtUp();
    await n.runDue();
    expect((await rows())[0]).toMatchObject({ status: 'dead', attempts: 1, lastError: 'timeout after 200 ms' });
  });

  it('stop() gives up on a hung send without rejecting; the row stays pending, attempt not counted', async () => {
    const r = await receiver(() => 'hang');
    const n = await notifier({ ops: webhook(r, { timeoutMs: 60_000 }) }, { routes: [{ channel: 'ops' }] });
    await env.publish(alertEvent());
    await env.caughtUp();
    const pass = n.runDue();
    await waitFor(() => r.received.length === 1, 'the request');
    await expect(n.stop()).resolves.toBeUndefined();
    await pass;
    expect((await rows())[0]).toMatchObject({ status: 'pending', attempts: 0 });
  });
});

describe('email', () => {
  it('sends to the channel recipients through SMTP with subject and body', async () => {
    const mail = await startMailServer();
    cleanups.push(() => mail.close());
    const n = await notifier(
      { mail: { type: 'email', to: ['ops@example.com', 'oncall@example.com'] } },
      { routes: [{ channel: 'mail' }] },
      { smtp: { host: '127.0.0.1', port: mail.port, from: 'strata@example.com' } },
    );
    const event = alertEvent({ device: 'dev-7' });
    await env.publish(event, { ...alertEvent({ device: 'dev-7', alert_id: event.alert_id }), type: 'resolved', status: 'resolved', by: 'rule' });
    await env.caughtUp();
    await n.runDue();

    expect(n.stats()).toMatchObject({ delivered: 2, failedAttempts: 0 });
    expect(mail.messages).toHaveLength(2);
    const subjects = mail.messages.map((m) => parseMail(m.raw).header('subject')).sort();
    expect(subjects).toEqual(['[HIGH] Heart rate high — dev-7', '[HIGH] Heart rate high — dev-7 (resolved)']);
    for (const m of mail.messages) {
      expect(m.from).toBe('strata@example.com');
      expect(m.to.sort()).toEqual(['oncall@example.com', 'ops@example.com']);
      const { text } = parseMail(m.raw);
      expect(text).toContain(event.alert_id);
      expect(text).toContain('dev-7');
      expect(text).toContain('hr-high@1');
      expect(text).toContain('"threshold": 120');
    }
  });

  it('fails an email delivery with a clear last_error when no SMTP settings are given', async () => {
    const n = await notifier({ mail: { type: 'email', to: ['ops@example.com'] } }, { routes: [{ channel: 'mail' }] }, { retry: { maxAttempts: 1 } });
    await env.publish(alertEvent());
    await env.caughtUp();
    await n.runDue();
    const [row] = await rows();
    expect(row).toMatchObject({ status: 'dead' });
    expect(row!.lastError).toContain(notifyErrors.STRATA_ERR_NOTIFY_NO_SMTP.code);
  });
});

describe('routing', () => {
  it('sends by minSeverity, and not for repeated or acknowledged events', async () => {
    const r = await receiver();
    const n = await notifier({ all: webhook(r), urgent: webhook(r) }, { routes: [{ channel: 'all' }, { channel: 'urgent', minSeverity: 'high' }] });
    const high = alertEvent({ severity: 'high' });
    const medium = alertEvent({ severity: 'medium', device: 'dev-2' });
    await env.publish(high, medium, alertEvent({ type: 'repeated', count: 2 }), alertEvent({ type: 'acknowledged', status: 'acknowledged', by: 'ann' }));
    await env.caughtUp();

    const made = (await rows()).map((x) => `${x.alertId}:${x.channel}`).sort();
    expect(made).toEqual([`${high.alert_id}:all`, `${high.alert_id}:urgent`, `${medium.alert_id}:all`].sort());
    await Promise.all([n.runDue(), n.runDue(), n.runDue()]); // passes never overlap: each row is sent once
    expect(r.delivered()).toHaveLength(3);
  });

  it('skips and counts routes to channels that are not configured, without blocking the others', async () => {
    const r = await receiver();
    const logger = memoryLogger();
    const n = await notifier({ ops: webhook(r) }, { routes: [{ channel: 'ops' }, { channel: 'nope' }] }, { logger });
    await env.publish(alertEvent());
    await env.caughtUp();
    expect((await rows()).map((x) => x.channel)).toEqual(['ops']);
    expect(n.stats().unknownChannel).toBe(1);
    expect(logger.lines.some((l) => l.level === 'warn' && l.obj.code === 'STRATA_ERR_NOTIFY_UNKNOWN_CHANNEL')).toBe(true);
  });

  it('sends nothing for a rule without notify settings', async () => {
    const r = await receiver();
    const n = await notifier({ ops: webhook(r) }, undefined);
    await env.publish(alertEvent({ severity: 'critical' }));
    await env.caughtUp();
    await n.runDue();
    expect(await rows()).toEqual([]);
    expect(r.received).toEqual([]);
  });
});

describe('quiet hours', () => {
  it('holds a medium alert until the end of the quiet hours; a critical one goes at once', async () => {
    t = Date.parse('2030-01-01T23:30:00Z');
    const r = await receiver();
    const n = await notifier({ ops: webhook(r, { quietHours: { from: '22:00', to: '06:00' } }) }, { routes: [{ channel: 'ops' }] });
    const medium = alertEvent({ severity: 'medium' });
    const critical = alertEvent({ severity: 'critical', device: 'dev-2' });
    await env.publish(medium, critical);
    await env.caughtUp();
    expect((await rows({ alertId: medium.alert_id }))[0]!.nextAttempt).toBe('2030-01-02T06:00:00.000Z');

    await n.runDue();
    expect(r.delivered().map((b) => b.alert.id)).toEqual([critical.id]);

    t = Date.parse('2030-01-02T05:59:00Z');
    await n.runDue();
    expect(r.delivered()).toHaveLength(1);

    t = Date.parse('2030-01-02T06:00:00Z');
    await n.runDue();
    expect(r.delivered().map((b) => b.alert.id)).toEqual([critical.id, medium.id]);
  });
});

describe('escalation', () => {
  it('escalates an unacknowledged critical alert after afterSeconds; cancels one acknowledged in time', async () => {
    const ops = await receiver();
    const oncall = await receiver();
    const settings: RuleNotifySettings = { routes: [{ channel: 'ops' }], escalation: { afterSeconds: 600, channels: ['oncall'] } };
    // Escalations ignore quiet hours: oncall is quiet all day.
    const n = await notifier({ ops: webhook(ops), oncall: webhook(oncall, { quietHours: { from: '00:00', to: '23:59' } }) }, settings);
    const ignored = alertEvent({ severity: 'critical', device: 'dev-1' });
    const acked = alertEvent({ severity: 'critical', device: 'dev-2' });
    const notCritical = alertEvent({ severity: 'high', device: 'dev-3' });
    for (const e of [ignored, acked, notCritical]) await insertAlert(env.db, e);
    await env.publish(ignored, acked, notCritical);
    await env.caughtUp();

    const escalations = await rows({ status: 'pending' }).then((all) => all.filter((x) => x.escalation));
    expect(escalations.map((x) => x.alertId).sort()).toEqual([ignored.alert_id, acked.alert_id].sort());
    expect(escalations.every((x) => x.channel === 'oncall' && x.nextAttempt === iso(T0 + 600_000))).toBe(true);

    await n.runDue();
    expect(ops.delivered()).toHaveLength(3);
    expect(oncall.received).toHaveLength(0);

    await env.db.kysely.updateTable('alerts').set({ status: 'acknowledged', acknowledged_at: new Date(t), acknowledged_by: 'ann' }).where('id', '=', acked.alert_id).execute();
    t = T0 + 599_000;
    await n.runDue();
    expect(oncall.received).toHaveLength(0);

    t = T0 + 600_000;
    await n.runDue();
    expect(oncall.delivered().map((b) => [b.alert.alert_id, b.escalation])).toEqual([[ignored.alert_id, true]]);
    const [cancelled] = await rows({ status: 'cancelled' });
    expect(cancelled).toMatchObject({ alertId: acked.alert_id, channel: 'oncall', escalation: true });
    expect(cancelled!.lastError).toContain('acknowledged');
    expect(n.stats()).toMatchObject({ delivered: 4, cancelled: 1 });
  });
});

describe('intake', () => {
  it('re-reading the topic after a crash before the commit makes no duplicate rows or sends; garbage is skipped', async () => {
    const r = await receiver();
    const settings = { routes: [{ channel: 'ops' }] };
    const first = await notifier({ ops: webhook(r) }, settings);
    const e1 = alertEvent();
    await env.publish(e1);
    await env.caughtUp();
    await first.runDue();
    await first.stop();

    // As if the commit had never happened: the group starts over from the beginning.
    const rewind = await env.stream.consumer({ topic: 'alerts', group: 'notify' });
    await rewind.commit(rewind.assignment().map((partition) => ({ partition, offset: 0 })));
    await rewind.close();

    const logger = memoryLogger();
    const second = await notifier({ ops: webhook(r) }, settings, { logger });
    const e2 = alertEvent();
    await env.publish('not json {', '{"id":"x","type":"opened"}', e2);
    await env.caughtUp();
    await second.runDue();

    expect((await rows()).map((x) => x.eventId).sort()).toEqual([e1.id, e2.id].sort());
    expect(r.delivered().map((b) => b.alert.id)).toEqual([e1.id, e2.id]);
    expect(second.stats()).toMatchObject({ invalid: 2, delivered: 1 });
    const warned = logger.lines.filter((l) => l.level === 'warn' && l.msg === 'skipped records that are not alert events');
    expect(warned.length).toBeGreaterThanOrEqual(1);
    expect(String(warned[0]!.obj.reason).length).toBeLessThanOrEqual(200);
  });

  it('restarting with the same group reads nothing again', async () => {
    const r = await receiver();
    const settings = { routes: [{ channel: 'ops' }] };
    const first = await notifier({ ops: webhook(r) }, settings);
    await env.publish(alertEvent());
    await env.caughtUp();
    await first.stop();
    let asked = 0;
    const second = await notifier({ ops: webhook(r) }, undefined, { settingsFor: () => (asked++, settings) });
    const e2 = alertEvent();
    await env.publish(e2);
    await env.caughtUp();
    await second.runDue();
    expect(asked).toBe(1);
    expect(r.delivered()).toHaveLength(2);
    expect(await rows()).toHaveLength(2);
  });

  it('retries a batch when settingsFor fails, committing nothing until it works', async () => {
    const r = await receiver();
    let fail = true;
    let calls = 0;
    const n = await notifier({ ops: webhook(r) }, undefined, {
      settingsFor: () => {
        calls++;
        if (fail) throw new Error('rules store unavailable');
        return { routes: [{ channel: 'ops' }] };
      },
    });
    const event = alertEvent();
    await env.publish(event);
    await waitFor(() => calls >= 2, 'settingsFor to be retried');
    expect(await rows()).toEqual([]);
    expect((await env.stream.lag('alerts')).find((g) => g.group === 'notify')).toBeUndefined();
    fail = false;
    await env.caughtUp();
    await n.runDue();
    expect(r.delivered().map((b) => b.alert.id)).toEqual([event.id]);
  });
});

describe('options and queries', () => {
  it('rejects bad options at start', async () => {
    const base = { db: env.db, stream: env.stream, settingsFor: () => undefined };
    await expect(startNotifier({ ...base, channels: { x: { type: 'webhook', url: 'ftp://host', secret: 's' } } })).rejects.toMatchObject({ code: 'STRATA_ERR_NOTIFY_BAD_OPTION' });
    await expect(startNotifier({ ...base, channels: { x: { type: 'webhook', url: 'http://host', secret: '' } } })).rejects.toMatchObject({ code: 'STRATA_ERR_NOTIFY_BAD_OPTION' });
    await expect(startNotifier({ ...base, channels: { x: { type: 'email', to: ['a@b'], quietHours: { from: '25:00', to: '06:00' } } } })).rejects.toMatchObject({ code: 'STRATA_ERR_NOTIFY_BAD_OPTION' });
    await expect(startNotifier({ ...base, channels: {}, retry: { maxAttempts: 0 } })).rejects.toMatchObject({ code: 'STRATA_ERR_NOTIFY_BAD_OPTION' });
  });

  it('lists newest first, pages with before, and rejects a bad limit', async () => {
    const r = await receiver();
    await notifier({ ops: webhook(r) }, { routes: [{ channel: 'ops' }] });
    await env.publish(alertEvent(), alertEvent(), alertEvent());
    await env.caughtUp();
    const all = await rows();
    expect(all.map((x) => x.id)).toEqual(all.map((x) => x.id).sort().reverse());
    const page1 = await rows({ limit: 2 });
    const page2 = await rows({ limit: 2, before: page1[1]!.id });
    expect([...page1, ...page2].map((x) => x.id)).toEqual(all.map((x) => x.id));
    await expect(rows({ limit: 0 })).rejects.toMatchObject({ code: 'STRATA_ERR_NOTIFY_BAD_QUERY', statusCode: 400 });
    await expect(rows({ limit: 1001 })).rejects.toMatchObject({ code: 'STRATA_ERR_NOTIFY_BAD_QUERY' });
  });
});
