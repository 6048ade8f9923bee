import { describe, expect, it } from 'vitest';
import { countResults, SERVICES, validateComplianceFinding, validateInventoryInfo, type CheckResult, type ResourceRef, type ScanReport } from '@strata/scanner';
import { UsageError } from '../run.js';
import { reportText, scanOptionsFrom, type ScanFlags } from './scan.js';

const flags = (f: Partial<ScanFlags> = {}): ScanFlags => ({ regions: ['eu-west-3'], concurrency: 4, format: 'markdown', ...f });

describe('strata scan aws options', () => {
  it('default to every service and the default credential chain', () => {
    expect(scanOptionsFrom(flags())).toEqual({ regions: ['eu-west-3'], services: [...SERVICES], concurrency: 4, connection: { auth: { mode: 'default' } } });
    expect(scanOptionsFrom(flags({ regions: ['all'], profile: 'audit' })).connection.auth).toEqual({ mode: 'default', profile: 'audit' });
    expect(scanOptionsFrom(flags({ regions: ['all'] })).regions).toBe('all');
  });

  it('take static keys, AssumeRole on top of them, and an endpoint', () => {
    const keys = { accessKeyId: 'AKIAEXAMPLE0000000000', secretAccessKey: 's', sessionToken: 't' };
    expect(scanOptionsFrom(flags({ ...keys, endpoint: 'http://127.0.0.1:5000', homeRegion: 'eu-west-3' })).connection).toEqual({ auth: { mode: 'static', ...keys }, endpoint: 'http://127.0.0.1:5000', homeRegion: 'eu-west-3' });
    expect(scanOptionsFrom(flags({ ...keys, roleArn: 'arn:aws:iam::123456789012:role/audit', externalId: 'x-1' })).connection.auth).toEqual({ mode: 'assume-role', roleArn: 'arn:aws:iam::123456789012:role/audit', externalId: 'x-1', source: keys });
  });

  it('refuse what cannot work, naming the flag', () => {
    const bad: [Partial<ScanFlags>, RegExp][] = [
      [{ regions: ['moon-1'] }, /--regions: moon-1/],
      [{ regions: [] }, /--regions/],
      [{ services: ['ec2', 'lambda'] }, /--services: unknown service lambda/],
      [{ accessKeyId: 'AKIA' }, /go together/],
      [{ sessionToken: 't' }, /--session-token needs/],
      [{ externalId: 'x' }, /need --role-arn/],
      [{ roleArn: 'arn:aws:iam::12:user/x' }, /not an IAM role ARN/],
      [{ endpoint: 'ftp://x' }, /--endpoint: ftp: is not http/],
      [{ endpoint: 'http://k:s@127.0.0.1:5000' }, /--endpoint: user info/],
      [{ profile: 'p', accessKeyId: 'a', secretAccessKey: 's' }, /choose one/],
    ];
    for (const [f, message] of bad) expect(() => scanOptionsFrom(flags(f)), JSON.stringify(f)).toThrow(message);
    expect(() => scanOptionsFrom(flags({ regions: ['x'] }))).toThrow(UsageError);
  });
});

describe('strata scan aws --format ocsf', () => {
  // A report as runScan returns it: three resources (one account-wide, one judged by no check), two results.
  const bucket: ResourceRef = { uid: 'arn:aws:s3:::logs-111122223333', type: 'AWS::S3::Bucket', name: 'logs-111122223333', region: 'eu-west-3' };
  const volume: ResourceRef = { uid: 'arn:aws:ec2:eu-west-3:111122223333:volume/vol-1', type: 'AWS::EC2::Volume', name: 'vol-1', region: 'eu-west-3', tags: { team: 'ops' } };
  const user: ResourceRef = { uid: 'arn:aws:iam::111122223333:user/ci', type: 'AWS::IAM::User', name: 'ci', region: 'global' };
  const results: CheckResult[] = [
    { checkId: 'ec2.volume_encrypted', status: 'FAIL', detail: 'not encrypted', resource: volume },
    { checkId: 's3.bucket_versioning', status: 'PASS', detail: 'Enabled', resource: bucket },
  ];
  const report: ScanReport = {
    scanId: 'scan-1', startedAt: '2026-11-22T08:00:00.000Z', finishedAt: '2026-11-22T08:00:01.000Z', durationMs: 1000, target: { accountId: '111122223333', partition: 'aws' }, auth: { mode: 'default' },
    regions: ['eu-west-3'], services: ['ec2', 's3', 'iam'], completed: ['ec2@eu-west-3', 's3@global', 'iam@global'], resources: [volume, bucket, user, volume], results, counts: countResults(3, results), calls: { total: 3, byOperation: {} }, errors: [],
  };
  const lines = (text: string) => text.trimEnd().split('\n').map((l) => JSON.parse(l) as { class_uid: number; resource?: { uid: string }; resources?: { uid: string }[]; metadata: { version: string } });

  it('prints the Compliance Findings, then one inventory event per resource, each valid as its class', () => {
    const text = reportText(report, flags({ format: 'ocsf' }));
    expect(text.endsWith('\n')).toBe(true);
    const events = lines(text);
    // a Compliance Finding (OCSF 1.1.0) has one `resource`; an inventory event (1.4.0) a `resources` array
    expect(events.map((e) => [e.class_uid, (e.class_uid === 2003 ? e.resource : e.resources?.[0])!.uid])).toEqual([
      [2003, volume.uid],
      [2003, bucket.uid],
      [5023, volume.uid], // listed twice by the scan, one inventory event
      [5023, bucket.uid],
      [5023, user.uid], // judged by no check: still in the inventory
    ]);
    for (const e of events) {
      expect(e.class_uid === 2003 ? validateComplianceFinding(e) : validateInventoryInfo(e), JSON.stringify(e)).toEqual([]);
      expect(e.metadata.version).toBe(e.class_uid === 2003 ? '1.1.0' : '1.4.0');
    }
  });

  it('prints one class with --ocsf-classes, and refuses it where it cannot apply', () => {
    expect(lines(reportText(report, flags({ format: 'ocsf', ocsfClasses: ['findings'] }))).map((e) => e.class_uid)).toEqual([2003, 2003]);
    expect(lines(reportText(report, flags({ format: 'ocsf', ocsfClasses: ['inventory'] }))).map((e) => e.class_uid)).toEqual([5023, 5023, 5023]);
    expect(() => reportText(report, flags({ format: 'json', ocsfClasses: ['inventory'] }))).toThrow(/--ocsf-classes goes with --format ocsf/);
    expect(() => reportText(report, flags({ format: 'ocsf', ocsfClasses: ['assets'] }))).toThrow(/--ocsf-classes: unknown class assets/);
    expect(() => reportText(report, flags({ format: 'ocsf', ocsfClasses: [] }))).toThrow(UsageError);
  });

  it('prints nothing when the credentials failed (no account, no events)', () => {
    expect(reportText({ ...report, target: null, resources: [], results: [], counts: countResults(0, []) }, flags({ format: 'ocsf' }))).toBe('');
  });
});
