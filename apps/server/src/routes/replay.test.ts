import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hourPath, objectKey } from '@strata/lake';
import type { StreamRecord } from '@strata/stream';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auditRecords, auth, createKey, usersOfEachRole } from './test-support.js';

const T0 = Date.UTC(2025, 11, 4, 10);
const MIN = 60_000;

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
  // Raw zone: devices a and b, one event a minute from 10:00 to 10:59.
  const lines: string[] = [];
  for (let m = 0; m < 60; m++) {
    for (const d of ['a', 'b']) {
      const ts = new Date(T0 + m * MIN).toISOString();
      lines.push(JSON.stringify({ id: `${d}-${m}`, device: d, ts, metrics: { temp: 20 + m }, received_at: ts, source: 'http' }));
    }
  }
  await t.platform.store.put(objectKey('raw', 'telemetry', hourPath(T0), 0, 0, lines.length - 1), gzipSync(lines.join('\n') + '\n'));
});
afterAll(() => t.close());

const replay = (payload: unknown, credential?: string) =>
  t.platform.app.inject({ method: 'POST', url: '/v1/admin/replay', payload: payload as object, ...(credential !== undefined && { headers: auth(credential) }) });

async function streamRecords(): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for (const p of (await t.platform.stream.describe('telemetry')).partitions) out.push(...(await t.platform.stream.read('telemetry', p.partition, 0, { maxRecords: 10_000 })));
  return out;
}

describe('POST /v1/admin/replay', () => {
  it('needs a credential (401) with admin:ops (403)', async () => {
    expect((await replay({ since: '2025-12-04T10:00:00Z' })).statusCode).toBe(401);
    const reader = await createKey(t.platform.app, t.adminKey, { scopes: ['read'] });
    expect((await replay({ since: '2025-12-04T10:00:00Z' }, reader)).statusCode).toBe(403);
    const { operator } = await usersOfEachRole(t, 'replay');
    expect((await replay({ since: '2025-12-04T10:00:00Z' }, operator)).statusCode).toBe(403);
    expect(await streamRecords()).toEqual([]);
  });

  it.each([
    [{ since: 'yesterday' }, 'since: "yesterday" is not an RFC 3339 time'],
    [{ since: '2025-12-04T11:00:00Z', until: '2025-12-04T10:00:00Z' }, 'until: must be after since'],
    [{ since: '2025-12-04T10:00:00Z', until: '2025-12-04T10:00:00Z' }, 'until: must be after since'],
    [{ since: '2025-12-04T10:00:00Z', devices: ['a b'] }, 'devices/0'],
    [{ since: '2025-12-04T10:00:00Z', topic: 'other' }, 'additional properties'],
  ])('refuses %j with 400', async (payload, message) => {
    const res = await replay(payload, t.adminKey);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'STRATA_ERR_HTTP_BAD_REQUEST', message: expect.stringContaining(message) });
  });

  it('re-publishes the window of the devices asked, ids kept and flagged, and audits it', async () => {
    const res = await replay({ since: '2025-12-04T10:15:00Z', until: '2025-12-04T10:45:00Z', devices: ['a'] }, t.adminKey);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ objects: 1, events: 30, appended: 30, duplicates: 0, skipped: 90, invalid: 0, unreadable: 0 });
    const records = await streamRecords();
    expect(records.map((r) => r.id).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `a-${i + 15}`).sort());
    for (const r of records) expect(JSON.parse(r.value.toString())).toMatchObject({ id: r.id, device: 'a', replay: true });
    const [entry] = await auditRecords(t, 'admin.replay');
    expect(entry).toMatchObject({ outcome: 'success', resource: 'stream:telemetry', details: { since: '2025-12-04T10:15:00Z', until: '2025-12-04T10:45:00Z', devices: 1 } });

    const again = await replay({ since: '2025-12-04T10:15:00Z', until: '2025-12-04T10:45:00Z', devices: ['a'] }, t.adminKey);
    expect(again.json()).toMatchObject({ events: 30, appended: 0, duplicates: 30 });
  });
});
