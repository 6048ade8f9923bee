import { describe, expect, it } from 'vitest';
import { CATALOGUE } from '../catalogue.js';
import type { CheckResult } from '../types.js';
import { findingUid, toComplianceFinding } from './compliance-finding.js';
import { validateComplianceFinding } from './validate.js';

const target = { accountId: '123456789012', partition: 'aws' };
const result = (checkId: string, status: CheckResult['status']): CheckResult => ({ checkId, status, detail: 'seen', resource: { uid: 'arn:aws:s3:::b', type: 'AWS::S3::Bucket', name: 'b', region: 'eu-west-3' } });

describe('OCSF Compliance Finding mapping', () => {
  it('maps every check, in every status and activity, to a valid event', () => {
    for (const c of CATALOGUE) {
      for (const status of ['PASS', 'WARNING', 'FAIL'] as const) {
        for (const activity of [1, 2, 3] as const) {
          const e = toComplianceFinding(result(c.id, status), target, 'scan-1', activity, { time: 2000, firstSeen: 1000 });
          expect(validateComplianceFinding(e), `${c.id} ${status} ${activity}`).toEqual([]);
        }
      }
    }
  });

  it('carries the check, resource, compliance, remediation and lifecycle', () => {
    const e = toComplianceFinding(result('s3.bucket_encryption', 'FAIL'), target, 'scan-1', 2, { time: 2000, firstSeen: 1000 });
    expect(e).toMatchObject({
      class_uid: 2003, category_uid: 2, activity_id: 2, activity_name: 'Update', type_uid: 200302, severity_id: 3, severity: 'Medium', status_id: 1, status: 'New', time: 2000,
      metadata: { version: '1.1.0', product: { vendor_name: 'Strata' }, correlation_uid: 'scan-1' },
      finding_info: { uid: findingUid('123456789012', 's3.bucket_encryption', 'arn:aws:s3:::b'), first_seen_time: 1000, last_seen_time: 2000, types: ['security'] },
      compliance: { status_id: 3, status: 'Fail', control: 's3.bucket_encryption', standards: ['HIPAA Security Rule', 'GDPR'] },
      resource: { uid: 'arn:aws:s3:::b', type: 'AWS::S3::Bucket', region: 'eu-west-3', owner: { account: { uid: '123456789012', type_id: 10 } } },
      cloud: { provider: 'AWS', region: 'eu-west-3' },
    });
    expect(e.remediation.desc).toContain('put-bucket-encryption');
    expect(toComplianceFinding(result('s3.bucket_encryption', 'PASS'), target, 's', 1, { time: 1, firstSeen: 1 }).status).toBe('Resolved');
    expect(toComplianceFinding(result('s3.bucket_encryption', 'FAIL'), target, 's', 3, { time: 1, firstSeen: 1 }).status).toBe('Resolved');
  });
});

describe('the OCSF validator', () => {
  const good = () => JSON.parse(JSON.stringify(toComplianceFinding(result('iam.root_mfa', 'FAIL'), target, 's', 1, { time: 5, firstSeen: 5 }))) as Record<string, any>;

  it('names each missing required attribute', () => {
    for (const path of ['class_uid', 'metadata', 'finding_info', 'compliance', 'time', 'severity_id']) {
      const e = good();
      delete e[path];
      expect(validateComplianceFinding(e).map((i) => i.path)).toContain(path);
    }
    const e = good();
    delete e.compliance.standards;
    delete e.finding_info.uid;
    delete e.metadata.product.vendor_name;
    delete e.remediation.desc;
    expect(validateComplianceFinding(e).map((i) => i.path).sort()).toEqual(['compliance.standards', 'finding_info.uid', 'metadata.product.vendor_name', 'remediation.desc']);
  });

  it('refuses values outside the enums, captions that do not match, and a wrong type_uid', () => {
    const e = good();
    e.compliance.status_id = 7;
    e.severity = 'Low';
    e.type_uid = 200302;
    e.status_id = 12;
    e.time = '2026-01-01';
    expect(validateComplianceFinding(e).map((i) => i.path).sort()).toEqual(['compliance.status_id', 'severity', 'status_id', 'time', 'type_uid']);
    expect(validateComplianceFinding({ ...good(), class_uid: 2001 }).map((i) => i.problem)).toContain('must be 2003 (Compliance Finding)');
  });

  it('refuses each broken finding, one fault at a time, naming the attribute', () => {
    const cases: [string, (e: Record<string, any>) => void][] = [
      ['activity_id', (e) => Object.assign(e, { activity_id: 5, type_uid: 200305 })],
      ['severity_id', (e) => (e.severity_id = 9)],
      ['severity_id', (e) => (e.severity_id = '3')],
      ['type_uid', (e) => delete e.type_uid],
      ['category_uid', (e) => delete e.category_uid],
      ['category_uid', (e) => (e.category_uid = 1)],
      ['category_name', (e) => (e.category_name = 'System Activity')],
      ['class_name', (e) => (e.class_name = 'Detection Finding')],
      ['activity_name', (e) => (e.activity_name = 'Close')],
      ['status', (e) => (e.status = 'Resolved')],
      ['compliance.status', (e) => (e.compliance.status = 'Pass')],
      ['compliance.standards', (e) => (e.compliance.standards = [1])],
      ['metadata.version', (e) => delete e.metadata.version],
      ['metadata.product', (e) => delete e.metadata.product],
      ['finding_info.title', (e) => delete e.finding_info.title],
      ['finding_info.last_seen_time', (e) => (e.finding_info.last_seen_time = -1)],
      ['resource.owner.account.type_id', (e) => (e.resource.owner.account.type_id = 42)],
      ['resource.uid', (e) => (e.resource.uid = 7)],
      ['resources', (e) => (e.resources = [e.resource])],
      ['cloud.provider', (e) => delete e.cloud.provider],
      ['remediation', (e) => (e.remediation = 'fix it')],
    ];
    for (const [path, breakIt] of cases) {
      const e = good();
      breakIt(e);
      expect(validateComplianceFinding(e).map((i) => i.path), `${path} ${JSON.stringify(breakIt.toString())}`).toEqual([path]);
    }
    expect(validateComplianceFinding('{}')).toEqual([{ path: '', problem: 'not an object' }]);
    expect(validateComplianceFinding(good())).toEqual([]);
  });
});
