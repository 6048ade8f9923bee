import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auth, createKey, usersOfEachRole, type Callers } from './test-support.js';

let t: TestPlatform;
let app: FastifyInstance;
let who: Callers;

interface AuditRecordReply {
  id: number;
  at: string;
  actor: string;
  action: string;
  resource: string;
  outcome: string;
  ip: string | null;
  details: Record<string, unknown> | null;
}

beforeAll(async () => {
  t = await startTestPlatform();
  app = t.platform.app;
  who = await usersOfEachRole(t, 'aud');
  // A failed login (outcome denied) and a few device changes to find again.
  await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'aud-operator', password: 'not the password 1' } });
  for (const id of ['a-1', 'a-2', 'a-3']) {
    const res = await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(who.operator), payload: { id, kind: 'machine' } });
    expect(res.statusCode, res.body).toBe(201);
  }
});
afterAll(async () => t.close());

const query = async (q: string, credential = t.adminKey) => {
  const res = await app.inject({ url: `/v1/audit${q}`, headers: auth(credential) });
  return { status: res.statusCode, body: res.json<{ records: AuditRecordReply[]; nextCursor?: string; error?: { code: string } }>() };
};

describe('GET /v1/audit', () => {
  it('answers the newest records first, its own read included', async () => {
    const { status, body } = await query('');
    expect(status).toBe(200);
    const ids = body.records.map((r) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(body.records[0]).toMatchObject({ action: 'audit.read', resource: 'audit', actor: expect.stringMatching(/^key:/), outcome: 'success' });
    expect(body.records[1]).toMatchObject({ action: 'device.create', resource: 'device:a-3', actor: 'user:aud-operator', details: { kind: 'machine' } });
    expect(Date.parse(body.records[0]!.at)).not.toBeNaN();
  });

  it('filters by actor, action, resource, outcome and time', async () => {
    const byActor = await query('?actor=user:aud-operator&action=device.create');
    expect(byActor.body.records.map((r) => r.resource)).toEqual(['device:a-3', 'device:a-2', 'device:a-1']);
    expect((await query('?resource=device:a-2')).body.records.map((r) => r.action)).toEqual(['device.create']);
    const denied = await query('?outcome=denied');
    expect(denied.body.records.length).toBeGreaterThan(0);
    expect(denied.body.records.every((r) => r.outcome === 'denied')).toBe(true);
    expect(denied.body.records.some((r) => r.action === 'auth.login')).toBe(true);

    const all = (await query('?action=device.create')).body.records;
    const middle = all[1]!.at;
    const after = (await query(`?action=device.create&from=${encodeURIComponent(middle)}`)).body.records;
    const before = (await query(`?action=device.create&to=${encodeURIComponent(middle)}`)).body.records;
    expect(after.length + before.length).toBe(3);
    expect(after.every((r) => r.at >= middle) && before.every((r) => r.at < middle)).toBe(true);
    expect((await query('?from=2999-01-01T00:00:00Z')).body.records).toEqual([]);
  });

  it('pages with an opaque cursor, without gaps or repeats', async () => {
    const everything = (await query('?action=device.create&limit=1000')).body.records.map((r) => r.id);
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await query(`?action=device.create&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.records.map((r) => r.id));
      cursor = page.body.nextCursor;
    } while (cursor !== undefined);
    expect(seen).toEqual(everything);
  });

  it('records each read with its filters', async () => {
    await query('?actor=user:aud-clinician&outcome=success&limit=5');
    const [own] = (await query('?action=audit.read&limit=2')).body.records.slice(1);
    expect(own).toMatchObject({ action: 'audit.read', details: { actor: 'user:aud-clinician', outcome: 'success' } });
  });

  it('is for admins only', async () => {
    expect((await query('', who.operator)).status).toBe(403);
    expect((await query('', who.clinician)).status).toBe(403);
    expect((await query('', await createKey(app, t.adminKey, { scopes: ['read'] }))).status).toBe(403);
    expect((await app.inject('/v1/audit')).statusCode).toBe(401);
  });

  it('refuses bad filters and cursors with 400', async () => {
    for (const q of ['?outcome=maybe', '?from=yesterday', '?from=0000-01-01T00:00:00Z', '?to=2016-12-31T23:59:60Z', '?limit=0', '?limit=1001', '?colour=red', "?cursor=';drop", '?cursor=WyJkZXZpY2VzIiwiYS0xIl0']) {
      expect((await query(q)).status, q).toBe(400);
    }
    expect((await query('?cursor=WyJkZXZpY2VzIiwiYS0xIl0')).body.error?.code).toBe('STRATA_ERR_HTTP_BAD_CURSOR');
    // Values are parameters, never SQL.
    expect((await query(`?actor=${encodeURIComponent("x' or '1'='1")}`)).body.records).toEqual([]);
  });
});
