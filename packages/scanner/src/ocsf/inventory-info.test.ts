import { describe, expect, it } from 'vitest';
import type { CheckResult, ResourceRef } from '../types.js';
import { inventoryEventUid, toInventoryEvents } from './inventory-info.js';
import { validateInventoryInfo } from './validate.js';

const target = { accountId: '123456789012', partition: 'aws' };
const bucket: ResourceRef = { uid: 'arn:aws:s3:::b', type: 'AWS::S3::Bucket', name: 'b', region: 'eu-west-3' };
const instance: ResourceRef = { uid: 'arn:aws:ec2:eu-west-3:123456789012:instance/i-1', type: 'AWS::EC2::Instance', name: 'web', region: 'eu-west-3', tags: { Name: 'web', team: 'ops' } };
const account: ResourceRef = { uid: 'arn:aws:::123456789012', type: 'AWS::::Account', name: '123456789012', region: 'global' };
const result = (resource: ResourceRef, checkId: string, detail: string): CheckResult => ({ checkId, resource, status: 'FAIL', detail });
const results = [result(bucket, 's3.bucket_encryption', 'no default encryption'), result(bucket, 's3.bucket_versioning', 'versioning Suspended'), result(instance, 'ec2.instance_imdsv2', 'HttpTokens optional'), result(account, 'iam.root_mfa', 'root MFA off')];

describe('the inventory as OCSF Cloud Resources Inventory Info', () => {
  const events = toInventoryEvents([bucket, instance, account, bucket], results, target, 'scan-1', 2000);

  it('gives one valid event per resource (a resource listed twice once)', () => {
    expect(events.map((e) => e.resources[0].uid)).toEqual([bucket.uid, instance.uid, account.uid]);
    for (const e of events) expect(validateInventoryInfo(e), e.resources[0].uid).toEqual([]);
  });

  it('carries type, ARN, region, account, name, tags and what the checks observed', () => {
    expect(events[1]).toMatchObject({
      class_uid: 5023, class_name: 'Cloud Resources Inventory Info', category_uid: 5, category_name: 'Discovery', activity_id: 2, activity_name: 'Collect', type_uid: 502302, severity_id: 1, time: 2000,
      metadata: { version: '1.4.0', product: { vendor_name: 'Strata' }, uid: inventoryEventUid('scan-1', instance.uid), correlation_uid: 'scan-1', log_name: 'inventory' },
      cloud: { provider: 'AWS', region: 'eu-west-3', account: { uid: '123456789012', type_id: 10 } },
      region: 'eu-west-3',
      resources: [{
        uid: instance.uid, type: 'AWS::EC2::Instance', name: 'web', region: 'eu-west-3', cloud_partition: 'aws', owner: { account: { uid: '123456789012', type_id: 10 } },
        tags: [{ name: 'Name', value: 'web' }, { name: 'team', value: 'ops' }],
        data: { service: 'ec2', observed: { 'ec2.instance_imdsv2': 'HttpTokens optional' } },
      }],
    });
    expect(events[0]!.resources[0].data).toEqual({ service: 's3', observed: { 's3.bucket_encryption': 'no default encryption', 's3.bucket_versioning': 'versioning Suspended' } });
    expect(events[0]!.resources[0]).not.toHaveProperty('tags');
    // Account-wide resources have no region.
    expect(events[2]).not.toHaveProperty('region');
    expect(events[2]!.resources[0]).toMatchObject({ type: 'AWS::::Account', data: { service: 'account' } });
    expect(events[2]!.resources[0]).not.toHaveProperty('region');
  });

  it('keeps event ids stable within a scan and distinct across scans', () => {
    expect(inventoryEventUid('scan-1', bucket.uid)).toBe(events[0]!.metadata.uid);
    expect(inventoryEventUid('scan-2', bucket.uid)).not.toBe(events[0]!.metadata.uid);
  });
});

describe('the inventory validator', () => {
  const good = () => JSON.parse(JSON.stringify(toInventoryEvents([instance], results, target, 's', 5)[0])) as Record<string, any>;

  it('refuses each broken event, one fault at a time, naming the attribute', () => {
    const cases: [string, (e: Record<string, any>) => void][] = [
      ['class_uid', (e) => (e.class_uid = 2003)],
      ['class_uid', (e) => delete e.class_uid],
      ['category_uid', (e) => (e.category_uid = 2)],
      ['category_name', (e) => (e.category_name = 'Findings')],
      ['class_name', (e) => (e.class_name = 'Compliance Finding')],
      ['activity_id', (e) => Object.assign(e, { activity_id: 3, type_uid: 502303 })],
      ['activity_name', (e) => (e.activity_name = 'Log')],
      ['type_uid', (e) => (e.type_uid = 500102)],
      ['severity_id', (e) => delete e.severity_id],
      ['severity', (e) => (e.severity = 'High')],
      ['time', (e) => (e.time = '2026-01-01')],
      ['metadata', (e) => delete e.metadata],
      ['metadata.version', (e) => delete e.metadata.version],
      ['metadata.product.vendor_name', (e) => delete e.metadata.product.vendor_name],
      ['cloud', (e) => delete e.cloud],
      ['cloud.provider', (e) => delete e.cloud.provider],
      ['region', (e) => (e.region = 3)],
      ['resources', (e) => (e.resources = {})],
      ['resources[0].uid', (e) => delete Object.assign(e.resources[0], { name: undefined }).uid],
      ['resources[0].type', (e) => (e.resources[0].type = 1)],
      ['resources[0].owner.account.type_id', (e) => (e.resources[0].owner.account.type_id = 42)],
      ['resources[0].tags[0].name', (e) => delete e.resources[0].tags[0].name],
      ['resources[0].tags[1].value', (e) => (e.resources[0].tags[1].value = 7)],
      ['resources[0].data', (e) => (e.resources[0].data = 'x')],
    ];
    for (const [path, breakIt] of cases) {
      const e = good();
      breakIt(e);
      expect(validateInventoryInfo(e).map((i) => i.path), `${path} ${breakIt.toString()}`).toEqual([path]);
    }
  });

  it('wants at least one of the class primary attributes', () => {
    const e = good();
    delete e.resources;
    delete e.cloud;
    expect(validateInventoryInfo(e).map((i) => i.path).sort()).toEqual(['cloud', 'resources']);
    expect(validateInventoryInfo([])).toEqual([{ path: '', problem: 'not an object' }]);
    expect(validateInventoryInfo(good())).toEqual([]);
  });
});
