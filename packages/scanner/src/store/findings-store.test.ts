/**
 * Findings across scans, on the embedded database: a first scan creates, a later scan of the same
 * scope updates what it sees again and closes what is gone, and leaves alone the scopes it did
 * not complete.
 */
import { describe, expect, it } from 'vitest';
import { countResults, type ScanReport } from '../runner.js';
import type { CheckResult } from '../types.js';
import { listFindings, planScan, writePlan } from './findings-store.js';
import { useScanDb } from './test-support.js';

const db = useScanDb();

const bucket = (name: string, checkId: string, status: CheckResult['status']): CheckResult => ({ checkId, status, detail: status, resource: { uid: `arn:aws:s3:::${name}`, type: 'AWS::S3::Bucket', name, region: 'eu-west-3' } });
const volume = (id: string, status: CheckResult['status']): CheckResult => ({ checkId: 'ec2.volume_encrypted', status, detail: status, resource: { uid: `arn:aws:ec2:eu-west-3:111122223333:volume/${id}`, type: 'AWS::EC2::Volume', name: id, region: 'eu-west-3' } });

function report(scanId: string, at: string, results: CheckResult[], completed: string[]): ScanReport {
  return {
    scanId, startedAt: at, finishedAt: at, durationMs: 0, target: { accountId: '111122223333', partition: 'aws' }, auth: { mode: 'static' }, regions: ['eu-west-3'], services: ['s3', 'ec2'],
    completed, resources: [], results, errors: [], counts: countResults(0, results), calls: { total: 0, byOperation: {} },
  };
}

async function apply(r: ScanReport) {
  const plan = await planScan(db(), r);
  await writePlan(db(), plan.rows);
  return plan;
}

describe('applying scans to the stored findings', () => {
  it('creates, then updates or closes findings for the same resource and check', async () => {
    const first = await apply(report('scan-1', '2026-11-22T08:00:00.000Z', [bucket('a', 's3.bucket_versioning', 'FAIL'), bucket('b', 's3.bucket_versioning', 'FAIL'), volume('vol-1', 'FAIL')], ['ec2@eu-west-3', 's3@eu-west-3', 's3@global']));
    expect(first.counts).toEqual({ created: 3, updated: 0, closed: 0 });
    expect(first.events.map((e) => e.activity_id)).toEqual([1, 1, 1]);

    // Second scan: a fixed, b gone; ec2 not completed this time (an error), so vol-1 stays as it was.
    const second = await apply(report('scan-2', '2026-11-22T09:00:00.000Z', [bucket('a', 's3.bucket_versioning', 'PASS')], ['s3@eu-west-3', 's3@global']));
    expect(second.counts).toEqual({ created: 0, updated: 1, closed: 1 });
    const byName = Object.fromEntries(second.events.map((e) => [e.resource.name, e]));
    expect(byName.a).toMatchObject({ activity_id: 2, status: 'Resolved', compliance: { status: 'Pass' }, finding_info: { first_seen_time: Date.parse('2026-11-22T08:00:00Z'), last_seen_time: Date.parse('2026-11-22T09:00:00Z') } });
    expect(byName.b).toMatchObject({ activity_id: 3, type_uid: 200303, status: 'Resolved' });

    const active = await listFindings(db(), { limit: 100 });
    expect(active.map((f) => `${f.resource.name} ${f.status} ${f.scanId}`).sort()).toEqual(['a PASS scan-2', 'vol-1 FAIL scan-1']);
    const closed = await listFindings(db(), { limit: 100, state: 'closed' });
    expect(closed.map((f) => `${f.resource.name} ${f.closedAt}`)).toEqual(['b 2026-11-22T09:00:00.000Z']);

    // A scan of another region (S3 is listed account-wide) leaves the buckets of eu-west-3 alone.
    const elsewhere = await apply(report('scan-x', '2026-11-22T09:30:00.000Z', [], ['s3@global', 's3@us-east-1', 'ec2@us-east-1']));
    expect(elsewhere.counts).toEqual({ created: 0, updated: 0, closed: 0 });

    // Third: b is back (a new finding), vol-1 judged again.
    const third = await apply(report('scan-3', '2026-11-22T10:00:00.000Z', [bucket('a', 's3.bucket_versioning', 'PASS'), bucket('b', 's3.bucket_versioning', 'FAIL'), volume('vol-1', 'PASS')], ['ec2@eu-west-3', 's3@eu-west-3', 's3@global']));
    expect(third.counts).toEqual({ created: 1, updated: 2, closed: 0 });
    expect(third.events.find((e) => e.resource.name === 'b')?.finding_info.first_seen_time).toBe(Date.parse('2026-11-22T10:00:00Z'));
  });

  it('filters by severity, status, dimension, check and resource', async () => {
    const fails = await listFindings(db(), { status: ['FAIL'], limit: 10 });
    expect(fails.map((f) => f.resource.name)).toEqual(['b']);
    expect(await listFindings(db(), { severity: ['high'], limit: 10 })).toHaveLength(1); // ec2.volume_encrypted
    expect(await listFindings(db(), { dimension: ['architecture'], limit: 10 })).toHaveLength(2);
    expect(await listFindings(db(), { check: 'ec2.volume_encrypted', limit: 10 })).toHaveLength(1);
    expect(await listFindings(db(), { resource: 'arn:aws:s3:::a', limit: 10 })).toHaveLength(1);
    expect(await listFindings(db(), { resource: 'a', limit: 10 })).toHaveLength(1);
    const page1 = await listFindings(db(), { limit: 1 });
    const page2 = await listFindings(db(), { limit: 10, after: page1[0]!.uid });
    expect(page1.length + page2.length).toBe(3);
  });
});
