/** Platform switches a deployment sets: rate limits, known-only device registration, keys from before the database. */
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { queryAudit } from '@strata/db';
import { startTestPlatform } from './test-platform.js';
import { TELEMETRY_TOPIC } from './platform.js';

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe('rate limits', () => {
  it('answer 429 with Retry-After past a caller’s burst, per caller, and apart for ingest', async () => {
    const t = await startTestPlatform({ 'rateLimit.perSecond': 0.5, 'rateLimit.burst': 3, 'rateLimit.ingestPerSecond': 0.5, 'rateLimit.ingestBurst': 2 });
    try {
      const { app } = t.platform;
      const { key: other } = await t.platform.auth.directory.createKey({ scopes: ['read', 'ingest'] }, { actor: 'system' });
      const list = (key: string) => app.inject({ url: '/v1/devices', headers: auth(key) });
      for (let i = 0; i < 3; i++) expect((await list(other)).statusCode).toBe(200);
      const limited = await list(other);
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error.code).toBe('STRATA_ERR_AUTH_RATE_LIMITED');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Another caller has its own bucket, and ingest its own limit.
      expect((await list(t.adminKey)).statusCode).toBe(200);
      const ingest = () => app.inject({ method: 'POST', url: '/v1/ingest', headers: auth(other), payload: { sensorId: 's-1', v: 1 } });
      expect((await ingest()).statusCode).toBe(200);
      expect((await ingest()).statusCode).toBe(200);
      expect((await ingest()).statusCode).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe('sign-in limits', () => {
  it('slow down guessing one account from anywhere, and many accounts from one address', async () => {
    const t = await startTestPlatform({ 'auth.loginAttemptsPerMinute': 2 });
    try {
      const { app } = t.platform;
      const login = (username: string, ip: string) =>
        app.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: ip, payload: { username, password: 'Wrong-password-123' } });
      // One account: the third try within the minute is refused, from any address.
      expect((await login('alice', '10.0.0.1')).statusCode).toBe(401);
      expect((await login('alice', '10.0.0.2')).statusCode).toBe(401);
      const limited = await login('alice', '10.0.0.3');
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // One address trying many accounts: refused past five times the per-account rate.
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await login(`user-${i}`, '10.0.0.9')).statusCode);
      expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(10)).toEqual([429, 429]);
      // Refresh tokens cannot be guessed at speed either.
      const refresh = () => app.inject({ method: 'POST', url: '/v1/auth/refresh', remoteAddress: '10.0.0.9', payload: { refreshToken: 'str_guess' } });
      expect((await refresh()).statusCode).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe('devices.registration: known-only', () => {
  it('refuses telemetry of unregistered devices with 403, writing nothing, and takes it once the device is created', async () => {
    const t = await startTestPlatform({ 'devices.registration': 'known-only' });
    try {
      const { app, stream } = t.platform;
      const send = (device: string) => app.inject({ method: 'POST', url: '/v1/ingest', headers: auth(t.adminKey), payload: [{ device: 'pump-1', metrics: { rpm: 1 } }, { device, metrics: { rpm: 2 } }] });
      const ends = async () => (await stream.describe(TELEMETRY_TOPIC)).partitions.map((p) => p.endOffset);
      const created = await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(t.adminKey), payload: { id: 'pump-1', kind: 'machine' } });
      expect(created.statusCode).toBe(201);

      const before = await ends();
      const refused = await send('pump-2');
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error).toMatchObject({ code: 'STRATA_ERR_INGEST_UNKNOWN_DEVICE', message: expect.stringContaining('pump-2') });
      expect(await ends()).toEqual(before);

      expect((await app.inject({ method: 'POST', url: '/v1/devices', headers: auth(t.adminKey), payload: { id: 'pump-2', kind: 'machine' } })).statusCode).toBe(201);
      expect((await send('pump-2')).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('keys made before the database', () => {
  it('move from keys.jsonl into the database at start, keep working, and the move is audited', async () => {
    const key = `stk_0123456789ab_${'A'.repeat(43)}`;
    const revoked = `stk_ba9876543210_${'B'.repeat(43)}`;
    const line = (id: string, k: string) => JSON.stringify({ op: 'create', id, hash: createHash('sha256').update(k).digest('hex'), scopes: ['ingest'], device: 'pump-7', created: '2026-11-01T00:00:00.000Z' });
    const t = await startTestPlatform({}, undefined, (dataDir) =>
      writeFileSync(join(dataDir, 'keys.jsonl'), [line('0123456789ab', key), line('ba9876543210', revoked), JSON.stringify({ op: 'revoke', id: 'ba9876543210', at: '2026-11-02T00:00:00.000Z' }), '{"op":"cre'].join('\n')),
    );
    try {
      const { app } = t.platform;
      const ingest = (k: string, device: string) => app.inject({ method: 'POST', url: '/v1/ingest', headers: { 'x-api-key': k }, payload: { sensorId: device, v: 1 } });
      expect((await ingest(key, 'pump-7')).statusCode).toBe(200);
      expect((await ingest(key, 'pump-8')).statusCode).toBe(403); // still bound to its device
      expect((await ingest(revoked, 'pump-7')).statusCode).toBe(401); // still revoked
      expect(existsSync(join(t.dataDir, 'keys.jsonl'))).toBe(false);
      expect(existsSync(join(t.dataDir, 'keys.jsonl.imported'))).toBe(true);
      const { records } = await queryAudit(t.platform.db.kysely, { action: 'key.import', limit: 5 });
      expect(records).toHaveLength(1);
      expect(records[0]!.details).toEqual({ keys: 2 });
    } finally {
      await t.close();
    }
  });
});
