import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook, type AlertEvent } from '@strata/rules';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auditRecords, auth, createKey, ingest, usersOfEachRole, type Callers } from './test-support.js';

const T = Date.now() - 3_600_000;
const at = (s: number) => new Date(T + s * 1000).toISOString();

interface AlertReply {
  id: string;
  ruleId: string;
  device: string;
  severity: string;
  status: string;
  count: number;
  value: number | null;
  resolvedBy: string | null;
  acknowledgedBy: string | null;
}

/** Waits until `fn` gives a value `ok` accepts (the rules consumer works in the background). */
async function eventually<V>(fn: () => Promise<V>, ok: (v: V) => boolean, ms = 20_000): Promise<V> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('alerts API', () => {
  let t: TestPlatform;
  let users: Callers;
  const hooks: { body: string; signature: string; timestamp: string }[] = [];
  let receiver: http.Server;

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooks.push({ body, signature: String(req.headers['x-strata-signature']), timestamp: String(req.headers['x-strata-timestamp']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as { port: number }).port;
    t = await startTestPlatform({
      'rules.presets': ['sickle-cell', 'machine'],
      'notifications.channels': { ward: { type: 'webhook', url: `http://127.0.0.1:${port}/hook`, secret: 'a-webhook-secret-of-length' } },
    });
    users = await usersOfEachRole(t, 'alerts');
  });
  afterAll(async () => {
    await t?.close();
    receiver?.close();
  });

  const get = (url: string, who: string) => t.platform.app.inject({ method: 'GET', url, headers: auth(who) });
  const alertsOf = async (device: string, who = t.adminKey): Promise<AlertReply[]> => (await get(`/v1/alerts?device=${device}`, who)).json<{ alerts: AlertReply[] }>().alerts;

  it('a preset opens an alert, escalates it, counts nothing twice and resolves it by its clear condition', async () => {
    await ingest(t, [
      { device: 'p-fever', ts: at(0), metrics: { temperature: 38.7 }, tags: { kind: 'patient' } },
      { device: 'p-fever', ts: at(60), metrics: { temperature: 39.6 } },
      { device: 'p-fever', ts: at(120), metrics: { temperature: 39.0 } },
    ]);
    const open = await eventually(() => alertsOf('p-fever'), (a) => a.length === 1 && a[0]!.severity === 'critical');
    expect(open.map((a) => [a.ruleId, a.status, a.severity, a.count, a.value])).toEqual([['sickle-cell.fever', 'open', 'critical', 1, 39]]);
    // Clear: below 38 for 5 minutes.
    await ingest(t, [
      { device: 'p-fever', ts: at(200), metrics: { temperature: 37.5 } },
      { device: 'p-fever', ts: at(500), metrics: { temperature: 37.4 } },
    ]);
    const resolved = await eventually(() => alertsOf('p-fever'), (a) => a[0]?.status === 'resolved');
    expect(resolved.map((a) => [a.status, a.resolvedBy])).toEqual([['resolved', 'rule']]);
  });

  it('acknowledge then resolve by hand, with 409 for a transition the status forbids, and the events on the SSE stream', async () => {
    // node:http with a connection of its own: fetch's pool would leave a spare one the server's close() waits on.
    const sse = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${t.platform.url}/v1/alerts/stream?device=m-hot`, { agent: false, headers: auth(t.adminKey) }, resolve).on('error', reject);
    });
    expect(sse.statusCode).toBe(200);
    sse.setEncoding('utf8');
    let text = '';
    const events: AlertEvent[] = [];
    const readUntil = async (n: number) => {
      for await (const chunk of sse) {
        text += chunk as string;
        const blocks = text.split('\n\n');
        text = blocks.pop()!;
        for (const b of blocks) {
          const data = b.split('\n').find((l) => l.startsWith('data: '));
          if (data) events.push(JSON.parse(data.slice(6)) as AlertEvent);
        }
        if (events.length >= n) return;
      }
    };
    await ingest(t, [
      { device: 'm-hot', ts: at(0), metrics: { temperature: 90 }, tags: { kind: 'machine' } },
      { device: 'm-hot', ts: at(40), metrics: { temperature: 91 } },
    ]);
    const [alert] = await eventually(() => alertsOf('m-hot'), (a) => a.length === 1);
    const ack = await t.platform.app.inject({ method: 'POST', url: `/v1/alerts/${alert!.id}/acknowledge`, headers: auth(users.operator), payload: { note: 'on my way' } });
    expect(ack.statusCode, ack.body).toBe(200);
    expect(ack.json<AlertReply>().acknowledgedBy).toBe('user:alerts-operator');
    const again = await t.platform.app.inject({ method: 'POST', url: `/v1/alerts/${alert!.id}/acknowledge`, headers: auth(users.operator), payload: {} });
    expect(again.statusCode).toBe(409);
    const resolve = await t.platform.app.inject({ method: 'POST', url: `/v1/alerts/${alert!.id}/resolve`, headers: auth(t.adminKey), payload: {} });
    expect(resolve.statusCode, resolve.body).toBe(200);
    await readUntil(3);
    sse.destroy();
    expect(events.map((e) => [e.type, e.alert_id, e.by ?? null])).toEqual([
      ['opened', alert!.id, null],
      ['acknowledged', alert!.id, 'user:alerts-operator'],
      ['resolved', alert!.id, expect.any(String)],
    ]);
    expect(events[1]!.note).toBe('on my way');
    expect((await auditRecords(t, 'alert.acknowledge')).map((r) => r.resource)).toContain(`alert:${alert!.id}`);
  });

  it('each role sees the alerts of the device kinds it may see; patient alert reads are audited', async () => {
    await ingest(t, [{ device: 'p-desat', ts: at(0), metrics: { spo2: 85 }, tags: { kind: 'patient' } }, { device: 'p-desat', ts: at(31), metrics: { spo2: 86 } }]);
    await eventually(() => alertsOf('p-desat'), (a) => a.length === 1);
    expect(await alertsOf('p-desat', users.clinician)).toHaveLength(1);
    expect(await alertsOf('p-desat', users.operator)).toHaveLength(0);
    expect((await get('/v1/alerts', users.analyst)).statusCode).toBe(403);
    const bound = await createKey(t.platform.app, t.adminKey, { scopes: ['read'], device: 'm-hot' });
    const mine = (await get('/v1/alerts', bound)).json<{ alerts: AlertReply[] }>().alerts;
    expect(new Set(mine.map((a) => a.device))).toEqual(new Set(['m-hot']));
    const records = await auditRecords(t, 'alert.list');
    expect(records.some((r) => JSON.stringify(r.details).includes('p-desat'))).toBe(true);
    expect((await t.platform.app.inject({ method: 'GET', url: '/v1/alerts' })).statusCode).toBe(401);
  });

  it('filters by status and severity, and pages newest first', async () => {
    const open = (await get('/v1/alerts?status=open,acknowledged', t.adminKey)).json<{ alerts: AlertReply[] }>().alerts;
    expect(open.length).toBeGreaterThan(0);
    expect(open.every((a) => a.status !== 'resolved')).toBe(true);
    const critical = (await get('/v1/alerts?severity=critical', t.adminKey)).json<{ alerts: AlertReply[] }>().alerts;
    expect(critical.every((a) => a.severity === 'critical')).toBe(true);
    const first = (await get('/v1/alerts?limit=1', t.adminKey)).json<{ alerts: AlertReply[]; nextBefore: string }>();
    const second = (await get(`/v1/alerts?limit=1&before=${first.nextBefore}`, t.adminKey)).json<{ alerts: AlertReply[] }>();
    expect(second.alerts[0]!.id).not.toBe(first.alerts[0]!.id);
    expect((await get('/v1/alerts?status=bogus', t.adminKey)).statusCode).toBe(400);
  });

  it('rules made through the API run, notify their webhook signed, and keep their versions', async () => {
    const rule = { id: 'line-pressure', title: 'Line pressure high', severity: 'high', condition: { type: 'threshold', metric: 'pressure', op: '>', value: 5 }, notify: [{ channel: 'ward', minSeverity: 'high' }] };
    const created = await t.platform.app.inject({ method: 'POST', url: '/v1/rules', headers: auth(users.operator), payload: rule });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json<{ version: number; origin: string }>()).toMatchObject({ version: 1, origin: 'api' });
    const bad = await t.platform.app.inject({ method: 'POST', url: '/v1/rules', headers: auth(users.operator), payload: { ...rule, id: 'x', condition: { type: 'threshold', metric: 'pressure', op: 'outside' } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ issues: { path: string }[] }>().issues.map((i) => i.path)).toEqual(['/condition/range']);
    // A body the route's schema refuses too gets the same itemised issues, not one schema message.
    const off = await t.platform.app.inject({ method: 'POST', url: '/v1/rules', headers: auth(users.operator), payload: { ...rule, id: 'y', severity: 'bogus' } });
    expect(off.statusCode).toBe(400);
    expect(off.json<{ issues: { path: string }[] }>().issues.map((i) => i.path)).toEqual(['/severity']);
    expect((await t.platform.app.inject({ method: 'PUT', url: '/v1/rules/sickle-cell.fever', headers: auth(t.adminKey), payload: rule })).statusCode).toBe(409);
    expect((await t.platform.app.inject({ method: 'POST', url: '/v1/rules', headers: auth(users.clinician), payload: rule })).statusCode).toBe(403);

    // The consumer polls for rule changes about every second.
    const body = JSON.stringify([{ device: 'pump-1', metrics: { pressure: 7 } }]);
    await eventually(async () => {
      await t.platform.app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), 'content-type': 'application/json' }, payload: body });
      return alertsOf('pump-1');
    }, (a) => a.length > 0);
    const hook = await eventually(async () => hooks.find((h) => h.body.includes('pump-1')), (h) => h !== undefined);
    expect(hook).toBeDefined();
    expect(verifyWebhook('a-webhook-secret-of-length', hook!.signature, Number(hook!.timestamp), hook!.body)).toBe(true);
    expect(JSON.parse(hook!.body).alert).toMatchObject({ type: 'opened', rule_id: 'line-pressure', device: 'pump-1', rule_version: 1 });

    const replaced = await t.platform.app.inject({ method: 'PUT', url: '/v1/rules/line-pressure?version=1', headers: auth(t.adminKey), payload: { ...rule, severity: 'critical' } });
    expect(replaced.json<{ version: number }>().version).toBe(2);
    const stale = await t.platform.app.inject({ method: 'PUT', url: '/v1/rules/line-pressure?version=1', headers: auth(t.adminKey), payload: rule });
    expect(stale.statusCode).toBe(409);
    const versions = (await get('/v1/rules/line-pressure/versions', users.clinician)).json<{ versions: { version: number }[] }>().versions;
    expect(versions.map((v) => v.version)).toEqual([2, 1]);
    expect((await t.platform.app.inject({ method: 'DELETE', url: '/v1/rules/line-pressure', headers: auth(t.adminKey) })).statusCode).toBe(204);
    expect((await get('/v1/rules/line-pressure', t.adminKey)).statusCode).toBe(404);
  });
});
