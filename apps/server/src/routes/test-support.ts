/** Test support for the device, live and audit routes: users and keys of each role, telemetry in the database. */
import { expect } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Role } from '@strata/auth';
import type { TestPlatform } from '../test-platform.js';

export const auth = (credential: string) => ({ authorization: `Bearer ${credential}` });

export interface Callers {
  admin: string;
  operator: string;
  clinician: string;
  analyst: string;
}

/** An access token for a new user of each role (`<prefix>-<role>`), plus the admin key. */
export async function usersOfEachRole(t: TestPlatform, prefix: string): Promise<Callers> {
  const app = t.platform.app;
  const tokens: Partial<Record<Role, string>> = {};
  for (const role of ['operator', 'clinician', 'analyst'] as const) {
    const username = `${prefix}-${role}`;
    const password = `Correct horse ${role} 42`;
    const created = await app.inject({ method: 'POST', url: '/v1/users', headers: auth(t.adminKey), payload: { username, password, role } });
    expect(created.statusCode, created.body).toBe(201);
    const login = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password } });
    expect(login.statusCode, login.body).toBe(200);
    tokens[role] = login.json<{ accessToken: string }>().accessToken;
  }
  return { admin: t.adminKey, operator: tokens.operator!, clinician: tokens.clinician!, analyst: tokens.analyst! };
}

export async function createKey(app: FastifyInstance, adminKey: string, body: Record<string, unknown>): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/v1/keys', headers: auth(adminKey), payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ key: string }>().key;
}

export async function ingest(t: TestPlatform, events: Record<string, unknown>[]): Promise<void> {
  const res = await t.platform.app.inject({ method: 'POST', url: '/v1/ingest', headers: { ...auth(t.adminKey), 'content-type': 'application/json' }, payload: events });
  expect(res.statusCode, res.body).toBe(200);
}

/** Every audit record with this action, newest first, straight from the database. */
export async function auditRecords(t: TestPlatform, action: string) {
  return t.platform.db.kysely.selectFrom('audit_log').selectAll().where('action', '=', action).orderBy('id', 'desc').execute();
}
