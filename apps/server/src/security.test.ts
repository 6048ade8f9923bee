/**
 * Security, route by route: the route list comes from the OpenAPI document (every route but the
 * UI's own assets is in it, with the permission it needs), so a new route is covered the day it
 * is added.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { allows, KEY_SCOPES, ROLES, type Caller, type Permission } from '@strata/auth';
import { startTestPlatform, type TestPlatform } from './test-platform.js';

interface Operation {
  method: string;
  path: string;
  permission: Permission | 'public';
  pathParams: string[];
  queryParams: string[];
}

let t: TestPlatform;
let app: FastifyInstance;
let operations: Operation[];
const logged: string[] = [];
const callers: { name: string; caller: Caller; credential: string }[] = [];
const PASSWORD = 'Correct-horse-battery-42';

beforeAll(async () => {
  const logs = new PassThrough();
  logs.on('data', (chunk: Buffer) => logged.push(chunk.toString()));
  // Debug level: the most a deployment would ever log.
  t = await startTestPlatform({ 'log.level': 'debug', 'rateLimit.perSecond': 0 }, logs);
  app = t.platform.app;
  const { directory, sessions } = t.platform.auth;
  for (const role of ROLES) {
    const user = await directory.createUser({ username: `u-${role}`, password: PASSWORD, role }, { actor: 'system' });
    const { accessToken } = await sessions.login(user.username, PASSWORD, {});
    callers.push({ name: `role ${role}`, caller: directory.userCaller(user.id)!, credential: accessToken });
  }
  for (const scope of KEY_SCOPES) {
    const { key } = await directory.createKey({ scopes: [scope] }, { actor: 'system' });
    callers.push({ name: `key ${scope}`, caller: directory.verifyKey(key)!, credential: key });
  }
  await t.platform.db.kysely
    .insertInto('devices')
    .values([
      { id: 'm-1', kind: 'machine', metadata: '{}', tags: '{}' },
      { id: 'p-1', kind: 'patient', metadata: '{}', tags: '{}' },
    ])
    .execute();

  const doc = (await app.inject('/openapi.json')).json<{ paths: Record<string, Record<string, { 'x-strata-permission': Permission | 'public'; parameters?: { in: string; name: string }[] }>> }>();
  operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      permission: op['x-strata-permission'],
      pathParams: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
      queryParams: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
    })),
  );
});
afterAll(async () => t.close());

function url(op: Operation, value = 'm-1'): string {
  return op.path.replace(/\{(\w+)\}/g, () => encodeURIComponent(value));
}

async function call(op: Operation, headers: Record<string, string> = {}, target = url(op)) {
  const body = op.method === 'GET' || op.method === 'DELETE' ? undefined : {};
  if (!op.path.endsWith('/stream')) return app.inject({ method: op.method as 'GET', url: target, headers, ...(body && { payload: body }) });
  // An event stream that opens never ends by itself: take its status and first bytes, then hang up.
  const res = await app.inject({ method: 'GET', url: target, headers, payloadAsStream: true });
  const stream = res.stream();
  const first = res.statusCode === 200 ? '' : await new Promise<string>((resolve) => {
    let text = '';
    stream.on('data', (c: Buffer) => (text += c.toString())).on('end', () => resolve(text));
  });
  stream.destroy();
  return { statusCode: res.statusCode, body: first, json: () => JSON.parse(first) as Record<string, unknown> };
}

describe('the route list', () => {
  it('covers every API route, each with a permission or marked public', () => {
    expect(operations.length).toBeGreaterThan(15);
    const names = operations.map((op) => `${op.method} ${op.path}`);
    for (const expected of ['POST /v1/ingest', 'GET /v1/devices', 'GET /v1/devices/{id}/series', 'GET /v1/audit', 'POST /v1/users', 'GET /metrics', 'GET /v1/live']) {
      expect(names).toContain(expected);
    }
    for (const op of operations) expect(op.permission, `${op.method} ${op.path}`).toBeDefined();
    expect(operations.filter((op) => op.permission === 'public').map((op) => `${op.method} ${op.path}`).sort()).toEqual(
      ['GET /health', 'GET /ready', 'POST /v1/auth/login', 'POST /v1/auth/refresh'].sort(),
    );
  });
});

describe('without credentials', () => {
  it('every route but the public ones answers 401 and does nothing', async () => {
    for (const op of operations.filter((o) => o.permission !== 'public')) {
      const res = await call(op);
      expect(res.statusCode, `${op.method} ${op.path}`).toBe(401);
      expect(res.json().error.code).toBe('STRATA_ERR_AUTH_MISSING_KEY');
    }
    expect((await app.inject('/v1/no-such-route')).statusCode).toBe(401);
  });
});

describe('the role and scope matrix', () => {
  it('lets each caller through exactly the routes the policy allows, and answers 403 to the others', async () => {
    for (const op of operations.filter((o) => o.permission !== 'public')) {
      for (const { name, caller, credential } of callers) {
        const res = await call(op, { authorization: `Bearer ${credential}` });
        const where = `${name} → ${op.method} ${op.path}: ${res.body.slice(0, 200)}`;
        if (allows(caller, op.permission as Permission)) expect([401, 403], where).not.toContain(res.statusCode);
        else {
          expect(res.statusCode, where).toBe(403);
          // The refusal says why, and carries nothing of the resource.
          expect(Object.keys(res.json()), where).toEqual(['error']);
        }
      }
    }
  });

  it('answers an unknown route 404 to any signed-in caller', async () => {
    for (const { credential } of callers) {
      expect((await app.inject({ url: '/v1/no-such-route', headers: { authorization: `Bearer ${credential}` } })).statusCode).toBe(404);
    }
  });
});

describe('access tokens', () => {
  const admin = () => callers.find((c) => c.name === 'role admin')!;
  const adminId = () => admin().caller.id;
  const get = (token: string) => app.inject({ url: '/v1/devices', headers: { authorization: `Bearer ${token}` } });
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

  it('are accepted when genuine', async () => {
    expect((await get(admin().credential)).statusCode).toBe(200);
  });

  it('are refused when expired, forged, unsigned (alg none) or signed with another key', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: adminId(), role: 'admin', username: 'u-admin' };
    const sign = (secret: Uint8Array, iat: number, exp: number) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).setIssuer('strata').setIssuedAt(iat).setExpirationTime(exp).setJti('x').sign(secret);
    const secret = Buffer.from(
      (await t.platform.db.kysely.selectFrom('settings').select('value').where('key', '=', 'jwt_secret').executeTakeFirstOrThrow()).value,
      'base64url',
    );
    // The control: a token made here with the real secret passes, so the refusals below are for the reasons named.
    expect((await get(await sign(secret, now, now + 600))).statusCode).toBe(200);

    const expired = await sign(secret, now - 7200, now - 3600);
    const otherKey = await sign(new Uint8Array(32).fill(7), now, now + 600);
    const unsigned = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ ...claims, iss: 'strata', iat: now, exp: now + 600, jti: 'x' })}.`;
    const [h, , s] = admin().credential.split('.');
    const tampered = `${h}.${b64({ ...claims, role: 'admin', username: 'mallory', iss: 'strata', iat: now, exp: now + 600, jti: 'y' })}.${s}`;
    for (const token of [expired, otherKey, unsigned, tampered, 'garbage', `${admin().credential}x`]) {
      const res = await get(token);
      expect(res.statusCode, token).toBe(401);
      expect(res.json().error.code).toBe('STRATA_ERR_AUTH_INVALID_TOKEN');
    }
  });
});

describe('hostile parameters', () => {
  const ATTACKS = ["' OR '1'='1", "m-1'; DROP TABLE devices;--", '../../etc/passwd', '..\\..\\windows\\win.ini', '%2e%2e%2f', "1' UNION SELECT hash FROM api_keys--", '\u0000', '$(reboot)'];

  it('in every path and query parameter are answered 400 or 404 (or an empty result) and change nothing', async () => {
    const admin = callers.find((c) => c.name === 'role admin')!;
    const headers = { authorization: `Bearer ${admin.credential}` };
    const count = async () => ({
      devices: (await t.platform.db.kysely.selectFrom('devices').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n,
      keys: (await t.platform.db.kysely.selectFrom('api_keys').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n,
      users: (await t.platform.db.kysely.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n,
    });
    const before = await count();
    let tried = 0;
    for (const op of operations.filter((o) => o.permission !== 'public' && o.permission !== 'ingest')) {
      for (const attack of ATTACKS) {
        if (op.pathParams.length > 0) {
          const res = await call(op, headers, url(op, attack));
          expect([400, 404], `${op.method} ${op.path} ← ${JSON.stringify(attack)}: ${res.body.slice(0, 200)}`).toContain(res.statusCode);
          tried++;
        }
        for (const name of op.queryParams) {
          const res = await call(op, headers, `${url(op)}?${name}=${encodeURIComponent(attack)}`);
          const where = `${op.method} ${op.path}?${name} ← ${JSON.stringify(attack)}: ${res.body.slice(0, 200)}`;
          if (res.statusCode === 200) {
            // A free-text filter may legitimately match nothing (a series, empty buckets); it must
            // never match anything else.
            const body = res.json<Record<string, unknown>>();
            const lists = Object.values(body).filter(Array.isArray) as Record<string, unknown>[][];
            expect(lists.length, where).toBeGreaterThan(0);
            for (const list of lists) expect(list.filter((item) => item.count !== 0), where).toEqual([]);
          } else expect([400, 404], where).toContain(res.statusCode);
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(50);
    expect(await count()).toEqual(before);
  });
});

describe('logs', () => {
  it('never carry a password, key, access token or refresh token', async () => {
    const login = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'u-operator', password: PASSWORD } });
    const { refreshToken, accessToken } = login.json<{ refreshToken: string; accessToken: string }>();
    await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });
    await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'u-operator', password: 'Wrong-password-123' } });
    const admin = callers.find((c) => c.name === 'key admin')!;
    const created = await app.inject({ method: 'POST', url: '/v1/keys', headers: { 'x-api-key': admin.credential }, payload: { scopes: ['read'] } });
    const newKey = created.json<{ key: string }>().key;
    await app.inject({ method: 'POST', url: '/v1/users', headers: { 'x-api-key': admin.credential }, payload: { username: 'u-new', password: 'Another-secret-pass-9', role: 'analyst' } });
    await app.inject({ url: '/v1/devices', headers: { authorization: `Bearer ${newKey.slice(0, -3)}abc` } });

    const all = logged.join('');
    expect(all.length).toBeGreaterThan(0);
    const secrets = [PASSWORD, 'Wrong-password-123', 'Another-secret-pass-9', refreshToken, accessToken, newKey, admin.credential, t.adminKey, ...callers.map((c) => c.credential)];
    for (const secret of secrets) expect(all.includes(secret), `a secret starting ${secret.slice(0, 8)} was logged`).toBe(false);
    // Nor any recognisable piece of one.
    expect(all).not.toMatch(/stk_[0-9a-f]{12}_[A-Za-z0-9_-]{8}|str_[A-Za-z0-9_-]{16}|eyJ[A-Za-z0-9_-]{20,}\.eyJ/);
  });
});
