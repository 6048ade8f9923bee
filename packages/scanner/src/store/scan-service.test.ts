/**
 * The scan queue on the embedded database, with a substitute runner (no AWS): what a restart does
 * to scans left QUEUED or RUNNING, a runner that reports errors or throws, and progress.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { countResults, type ScanOptions, type ScanReport } from '../runner.js';
import { ScanService } from './scan-service.js';
import { useScanDb } from './test-support.js';

const db = useScanDb();

const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function report(opts: ScanOptions, extra: Partial<ScanReport> = {}): ScanReport {
  const at = new Date().toISOString();
  return {
    scanId: opts.scanId!, startedAt: at, finishedAt: at, durationMs: 0, target: { accountId: '111122223333', partition: 'aws' }, auth: { mode: 'default' },
    regions: ['eu-west-3'], services: ['kms'], completed: ['kms@eu-west-3'], resources: [], results: [], errors: [], counts: countResults(0, []), calls: { total: 1, byOperation: {} }, ...extra,
  };
}

async function row(id: string) {
  return db().selectFrom('scans').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function insert(id: string, owner: string, status: 'QUEUED' | 'RUNNING') {
  await db().insertInto('scans').values({ id, status, request: '{}', requested_by: 'test', owner, created: new Date(), started_at: null, finished_at: null, progress_done: 0, progress_total: 0, account_id: null, counts: '{}', errors: '[]', api_calls: 0 }).execute();
}

describe('a restart', () => {
  it('fails the scans a stopped server of this host left, even one with our pid (pid 1 in a restarted container), and no one else’s', async () => {
    const host = hostname();
    await insert('dead-pid', `${host}/999999999/a`, 'RUNNING');
    await insert('same-pid-old-instance', `${host}/${process.pid}/gone`, 'QUEUED');
    await insert('same-pid-no-instance', `${host}/${process.pid}`, 'RUNNING');
    await insert('other-host', `elsewhere.example/${process.pid}/x`, 'RUNNING');

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = await ScanService.open({ db: db(), logger, run: async (o) => (await held, report(o)) });
    for (const id of ['dead-pid', 'same-pid-old-instance', 'same-pid-no-instance']) expect((await row(id)).status, id).toBe('FAILED');
    expect((await row('dead-pid')).errors).toEqual([expect.objectContaining({ code: 'Interrupted' })]);
    expect((await row('other-host')).status).toBe('RUNNING');

    // A second service in this process (another app on the same database) leaves the first one's scan alone.
    const { scan_id } = await first.submit({ regions: ['eu-west-3'], services: ['kms'] }, 'test');
    const second = await ScanService.open({ db: db(), logger });
    expect(['QUEUED', 'RUNNING']).toContain((await row(scan_id)).status);
    release();
    await first.idle();
    expect((await row(scan_id)).status).toBe('SUCCEEDED');
    await Promise.all([first.close(), second.close()]);
  });
});

describe('a scan', () => {
  it('that reports errors ends PARTIAL with its progress; one whose runner throws ends FAILED, and the queue goes on', async () => {
    let calls = 0;
    const service = await ScanService.open({
      db: db(),
      logger,
      run: async (o) => {
        if (++calls === 2) throw new Error('boom');
        o.onProgress?.(1, 2);
        o.onProgress?.(2, 2);
        return report(o, { errors: [{ service: 'kms', region: 'mars-north-1', kind: 'unreachable', code: 'ENOTFOUND', message: 'no such host' }] });
      },
    });
    const a = await service.submit({ regions: ['eu-west-3', 'mars-north-1'], services: ['kms'] }, 'test');
    const b = await service.submit({ regions: ['eu-west-3'], services: ['kms'] }, 'test');
    const c = await service.submit({ regions: ['eu-west-3'], services: ['kms'] }, 'test');
    await service.idle();
    expect(await service.get(a.scan_id)).toMatchObject({ status: 'PARTIAL', progress: { done: 2, total: 2 }, errors: [{ code: 'ENOTFOUND' }] });
    expect(await service.get(b.scan_id)).toMatchObject({ status: 'FAILED', errors: [{ message: 'boom' }] });
    expect((await service.get(c.scan_id))?.status).toBe('PARTIAL');
    await service.close();
  });

  it('is refused with a reason when the endpoint is not a plain http(s) URL', async () => {
    const service = await ScanService.open({ db: db(), logger, run: async (o) => report(o) });
    const credentials = { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 's' };
    for (const endpoint of ['file:///etc/passwd', 'http://user:pass@127.0.0.1:5000', 'http://127.0.0.1:5000/?x=1', 'not a url']) {
      await expect(service.submit({ regions: ['eu-west-3'], credentials, endpoint }, 'test'), endpoint).rejects.toMatchObject({ code: 'STRATA_ERR_SCAN_BAD_REQUEST' });
    }
    await expect(service.submit({ regions: ['eu-west-3'], credentials, endpoint: 'https://localstack.internal:4566' }, 'test')).resolves.toMatchObject({ status: 'QUEUED' });
    await service.close();
  });
});
