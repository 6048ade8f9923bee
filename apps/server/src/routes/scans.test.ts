/**
 * The scan API without AWS: a scan is queued and answered at once, runs in the background, and
 * records why it failed (here: nothing listens at the endpoint); the keys sent for it appear in no
 * answer, no database row, no audit record and no log line, and nothing is published.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '@strata/testkit';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auth } from './test-support.js';

let t: TestPlatform;
const logged: string[] = [];
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz';
const TOKEN = 'FQoGZXIvYXdzEJr-session-token-zz';
const KEY_ID = 'AKIAZZZZZZZZZZZZZZZZ';

beforeAll(async () => {
  const logs = new PassThrough();
  logs.on('data', (chunk: Buffer) => logged.push(chunk.toString()));
  t = await startTestPlatform({ 'log.level': 'debug' }, logs);
});
afterAll(async () => t.close());

const post = (payload: unknown) => t.platform.app.inject({ method: 'POST', url: '/v1/scans', headers: auth(t.adminKey), payload: payload as Record<string, unknown> });
const get = (url: string) => t.platform.app.inject({ url, headers: auth(t.adminKey) });

describe('POST /v1/scans', () => {
  it('answers 202 QUEUED at once; the scan records its failure; the keys are nowhere', async () => {
    const res = await post({ provider: 'aws', regions: ['eu-west-3'], services: ['ec2'], credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN }, assumeRole: { roleArn: 'arn:aws:iam::123456789012:role/audit', externalId: 'ext-zz-secret' }, endpoint: 'http://127.0.0.1:9' });
    expect(res.statusCode, res.body).toBe(202);
    const { scan_id, status } = res.json<{ scan_id: string; status: string }>();
    expect(status).toBe('QUEUED');
    let scan: Record<string, any> = {};
    await waitUntil('the scan to fail', async () => {
      scan = (await get(`/v1/scans/${scan_id}`)).json();
      return scan.status === 'FAILED';
    }, 30_000);
    expect(scan).toMatchObject({ scan_id, status: 'FAILED', request: { regions: ['eu-west-3'], services: ['ec2'], auth: 'assume-role', roleArn: 'arn:aws:iam::123456789012:role/audit', endpoint: 'http://127.0.0.1:9' }, account_id: null });
    expect(scan.errors).toEqual([expect.objectContaining({ service: 'sts', kind: 'unreachable', code: 'ECONNREFUSED' })]);

    const rows = JSON.stringify(await t.platform.db.kysely.selectFrom('scans' as never).selectAll().execute());
    const audit = JSON.stringify(await t.platform.db.kysely.selectFrom('audit_log').selectAll().where('action', '=', 'scan.create').execute());
    expect(audit).toContain(scan_id);
    for (const text of [JSON.stringify(scan), rows, audit, logged.join('')]) {
      for (const secret of [SECRET, TOKEN, KEY_ID, 'ext-zz-secret']) expect(text).not.toContain(secret);
    }
    // The platform has a topic for the scans' inventory; a scan that reached no account publishes nothing on it or on findings.
    for (const topic of ['findings', 'inventory']) {
      const info = await t.platform.stream.describe(topic);
      const records = await Promise.all(info.partitions.map((p) => t.platform.stream.read(topic, p.partition, 0, { maxRecords: 10 })));
      expect(records.flat(), topic).toEqual([]);
    }
  });

  it('refuses an endpoint without credentials (the server’s own keys never go to a named endpoint), and bad bodies', async () => {
    const res = await post({ provider: 'aws', regions: ['eu-west-3'], endpoint: 'http://127.0.0.1:9' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('STRATA_ERR_SCAN_BAD_REQUEST');
    // Keys in the endpoint's user info would be stored and shown with the scan.
    const credentials = { accessKeyId: KEY_ID, secretAccessKey: SECRET };
    const userInfo = await post({ provider: 'aws', regions: ['eu-west-3'], credentials, endpoint: 'http://key:secret@127.0.0.1:9' });
    expect(userInfo.statusCode).toBe(400);
    expect(userInfo.json().error.message).toContain('endpoint: user info is not allowed');
    expect((await post({ provider: 'aws', regions: ['eu-west-3'], credentials, endpoint: 'file:///etc/passwd' })).statusCode).toBe(400);
    for (const body of [{}, { provider: 'gcp', regions: ['eu-west-3'] }, { provider: 'aws', regions: [] }, { provider: 'aws', regions: ['eu-west-3'], services: ['lambda'] }, { provider: 'aws', regions: 'all', concurrency: 99 }]) {
      expect((await post(body)).statusCode, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('GET /v1/scans/:id and /v1/findings', () => {
  it('answers 404 for an unknown scan', async () => {
    const res = await get('/v1/scans/00000000-0000-4000-8000-000000000000');
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('STRATA_ERR_SCAN_NOT_FOUND');
  });

  it('lists findings as JSON, OCSF lines or Markdown (none yet)', async () => {
    expect((await get('/v1/findings?severity=high,critical&status=FAIL')).json()).toEqual({ findings: [], nextAfter: null });
    const md = await get('/v1/findings?format=markdown');
    expect(md.headers['content-type']).toContain('text/markdown');
    expect(md.body).toContain('# Cloud posture findings');
    expect((await get('/v1/findings?format=ocsf')).body).toBe('');
    expect((await get('/v1/findings?status=BROKEN')).statusCode).toBe(400);
  });
});
