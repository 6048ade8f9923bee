/**
 * Checks on recorded inputs: the cases moto cannot produce (old and unused access keys, root keys,
 * secrets nobody reads, unreadable settings) and the parsing the checks rely on.
 */
import { describe, expect, it } from 'vitest';
import type { ScanTarget } from '../types.js';
import { cloudTrailScanner } from './cloudtrail.js';
import { ec2Scanner } from './ec2.js';
import { grantsAdminStar, iamScanner, parseCredentialReport } from './iam.js';
import { rdsScanner } from './rds.js';
import { deniesInsecureTransport, s3Scanner } from './s3.js';
import { secretsManagerScanner } from './secretsmanager.js';
import { vpcScanner } from './vpc.js';

const target: ScanTarget = { accountId: '123456789012', partition: 'aws' };
const now = new Date('2026-11-22T00:00:00Z');
const ctx = { region: 'eu-west-3', target, now };
const outcomes = (results: { checkId: string; resource: { name: string }; status: string }[]) => results.map((r) => `${r.checkId} ${r.resource.name} ${r.status}`).sort();

const REPORT_HEADER = 'user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated';

describe('IAM checks', () => {
  const report = parseCredentialReport([
    REPORT_HEADER,
    '<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,N/A,not_supported,not_supported,false,true,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A',
    'old-key,arn:aws:iam::123456789012:user/old-key,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-01-01T00:00:00+00:00,2026-11-20T00:00:00+00:00,eu-west-3,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A',
    'idle-key,arn:aws:iam::123456789012:user/idle-key,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-10-01T00:00:00+00:00,N/A,N/A,N/A,true,2026-11-01T00:00:00+00:00,2026-11-21T00:00:00+00:00,eu-west-3,s3,false,N/A,false,N/A',
    'console,arn:aws:iam::123456789012:user/console,2026-01-01T00:00:00+00:00,true,2026-11-21T00:00:00+00:00,2026-01-01T00:00:00+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A',
  ].join('\n'));
  const user = (name: string, extra = {}) => ({ UserName: name, Arn: `arn:aws:iam::123456789012:user/${name}`, ...extra });

  it('fails keys older than 90 days and keys unused for 45 days, and console users without MFA', () => {
    const ev = iamScanner.evaluate(
      {
        summary: { AccountAccessKeysPresent: 1, AccountMFAEnabled: 1 },
        passwordPolicy: { ok: true, value: { MinimumPasswordLength: 8, PasswordReusePrevention: 24 } },
        users: [user('old-key'), user('idle-key', { AttachedManagedPolicies: [{ PolicyName: 'x' }] }), user('console'), user('missing')],
        policies: [{ Arn: 'arn:aws:iam::123456789012:policy/admin', PolicyVersionList: [{ IsDefaultVersion: true, Document: encodeURIComponent(JSON.stringify({ Statement: { Effect: 'Allow', Action: ['*'], Resource: '*' } })) }] }],
        credentials: report,
      },
      ctx,
    );
    expect(outcomes(ev.results)).toEqual([
      'iam.access_key_rotated idle-key PASS', 'iam.access_key_rotated old-key FAIL', 'iam.access_key_rotated console PASS', 'iam.access_key_rotated missing WARNING',
      'iam.access_key_used idle-key FAIL', 'iam.access_key_used old-key PASS', 'iam.access_key_used console PASS', 'iam.access_key_used missing WARNING',
      'iam.password_policy 123456789012 FAIL', 'iam.policy_no_admin_star admin FAIL', 'iam.root_access_keys 123456789012 FAIL', 'iam.root_mfa 123456789012 PASS',
      'iam.user_mfa console FAIL', 'iam.user_mfa idle-key PASS', 'iam.user_mfa missing WARNING', 'iam.user_mfa old-key PASS',
      'iam.user_policies_via_groups console PASS', 'iam.user_policies_via_groups idle-key FAIL', 'iam.user_policies_via_groups missing PASS', 'iam.user_policies_via_groups old-key PASS',
    ].sort());
  });

  it('reads policy documents raw or URL-encoded, statements one or many', () => {
    expect(grantsAdminStar('{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}')).toBe(true);
    expect(grantsAdminStar(encodeURIComponent('{"Statement":{"Effect":"Allow","Action":"*","Resource":["*"]}}'))).toBe(true);
    expect(grantsAdminStar('{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}')).toBe(false);
    expect(grantsAdminStar('{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}')).toBe(false);
    expect(grantsAdminStar('{"Statement":[{"Effect":"Allow","Action":"*:*","Resource":"*"}]}')).toBe(true);
    expect(grantsAdminStar('{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/*"}]}')).toBe(false);
    expect(grantsAdminStar('not json')).toBe(false);
  });
});

describe('S3 checks', () => {
  it('accept a TLS-only policy whatever the shape of its condition', () => {
    const policy = (v: unknown) => JSON.stringify({ Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': v } } }] });
    expect(deniesInsecureTransport(policy('false'))).toBe(true);
    expect(deniesInsecureTransport(policy(false))).toBe(true);
    expect(deniesInsecureTransport(policy(['false']))).toBe(true);
    expect(deniesInsecureTransport(policy('true'))).toBe(false);
    expect(deniesInsecureTransport('{}')).toBe(false);
    const shaped = (st: Record<string, unknown>) => JSON.stringify({ Statement: { Effect: 'Deny', Principal: '*', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, ...st } });
    expect(deniesInsecureTransport(shaped({ Principal: { AWS: ['*'] }, Action: ['*'] }))).toBe(true);
    expect(deniesInsecureTransport(shaped({ Condition: { BoolIfExists: { 'aws:SecureTransport': false } } }))).toBe(true);
    // Denying one principal or one action over HTTP leaves the rest open.
    expect(deniesInsecureTransport(shaped({ Principal: { AWS: 'arn:aws:iam::123456789012:user/x' } }))).toBe(false);
    expect(deniesInsecureTransport(shaped({ Action: 's3:GetObject' }))).toBe(false);
  });

  it('answer Warning, not Fail, when a setting could not be read', () => {
    const denied = { ok: false as const, missing: false as const, code: 'AccessDenied' };
    const ev = s3Scanner.evaluate({ accountPublicAccessBlock: denied, buckets: [{ name: 'b', region: 'eu-west-3', publicAccessBlock: denied, grants: denied, encryption: denied, policy: denied, versioning: denied, logging: denied, lifecycleRules: denied }] }, ctx);
    expect(ev.results.map((r) => r.status)).toEqual(Array(8).fill('WARNING'));
    expect(ev.results[1]!.detail).toContain('AccessDenied');
  });
});

describe('EC2 and VPC checks', () => {
  it('judge CPU only for running instances, Warning without CloudWatch data', () => {
    const instance = (id: string, state: string) => ({ InstanceId: id, State: { Name: state as 'running' }, InstanceType: 'm7g.large' as const, MetadataOptions: { HttpTokens: 'required' as const }, Monitoring: { State: 'enabled' as const } });
    const ev = ec2Scanner.evaluate(
      { instances: [instance('i-quiet', 'running'), instance('i-hot', 'running'), instance('i-dark', 'running'), instance('i-off', 'stopped'), instance('i-gone', 'terminated')], volumes: [], addresses: [], images: [], securityGroups: [], ebsEncryptionByDefault: { ok: true, value: true }, cpu: { 'i-quiet': 2, 'i-hot': 95 } },
      ctx,
    );
    const cpu = ev.results.filter((r) => r.checkId === 'ec2.instance_idle' || r.checkId === 'ec2.instance_cpu_saturated');
    expect(outcomes(cpu)).toEqual(['ec2.instance_cpu_saturated i-dark WARNING', 'ec2.instance_cpu_saturated i-hot FAIL', 'ec2.instance_cpu_saturated i-quiet PASS', 'ec2.instance_idle i-dark WARNING', 'ec2.instance_idle i-hot PASS', 'ec2.instance_idle i-quiet FAIL']);
    expect(ev.resources.map((r) => r.name)).not.toContain('i-gone');
  });

  it('find admin ports open to 0.0.0.0/0 or ::/0 through single ports, ranges and all-traffic rules, TCP only', () => {
    const rule = (protocol: string, from: number | undefined, to: number | undefined, cidr: string) => ({ IpProtocol: protocol, FromPort: from, ToPort: to, ...(cidr.includes(':') ? { Ipv6Ranges: [{ CidrIpv6: cidr }] } : { IpRanges: [{ CidrIp: cidr }] }) });
    const sg = (name: string, ...rules: ReturnType<typeof rule>[]) => ({ GroupId: `sg-${name}`, GroupName: name, IpPermissions: rules });
    const ev = ec2Scanner.evaluate({ instances: [], volumes: [], addresses: [], images: [], ebsEncryptionByDefault: { ok: true, value: true }, cpu: {}, securityGroups: [
      sg('ssh-v4', rule('tcp', 22, 22, '0.0.0.0/0')),
      sg('rdp-v6', rule('tcp', 3389, 3389, '::/0')),
      sg('range', rule('tcp', 1000, 4000, '0.0.0.0/0')),
      sg('low-range', rule('6', 0, 1024, '::/0')),
      sg('all-v4', rule('-1', undefined, undefined, '0.0.0.0/0')),
      sg('udp-rdp', rule('udp', 3389, 3389, '0.0.0.0/0')),
      sg('https-world', rule('tcp', 443, 443, '0.0.0.0/0')),
      sg('ssh-private', rule('tcp', 22, 22, '10.0.0.0/8'), rule('-1', undefined, undefined, '172.16.0.0/12')),
      sg('range-below', rule('tcp', 23, 3388, '0.0.0.0/0')),
    ] }, ctx);
    expect(outcomes(ev.results.filter((r) => r.checkId.startsWith('ec2.sg_')))).toEqual([
      'ec2.sg_admin_ports_open all-v4 FAIL', 'ec2.sg_admin_ports_open https-world PASS', 'ec2.sg_admin_ports_open low-range FAIL', 'ec2.sg_admin_ports_open range FAIL', 'ec2.sg_admin_ports_open range-below PASS',
      'ec2.sg_admin_ports_open rdp-v6 FAIL', 'ec2.sg_admin_ports_open ssh-private PASS', 'ec2.sg_admin_ports_open ssh-v4 FAIL', 'ec2.sg_admin_ports_open udp-rdp PASS',
      'ec2.sg_all_traffic_open all-v4 FAIL', 'ec2.sg_all_traffic_open https-world PASS', 'ec2.sg_all_traffic_open low-range PASS', 'ec2.sg_all_traffic_open range PASS', 'ec2.sg_all_traffic_open range-below PASS',
      'ec2.sg_all_traffic_open rdp-v6 PASS', 'ec2.sg_all_traffic_open ssh-private PASS', 'ec2.sg_all_traffic_open ssh-v4 PASS', 'ec2.sg_all_traffic_open udp-rdp PASS',
    ].sort());
  });

  it('pass default security groups without rules, and instances whose metadata service is off', () => {
    const ev = ec2Scanner.evaluate({ instances: [
      { InstanceId: 'i-no-imds', State: { Name: 'stopped' }, MetadataOptions: { HttpTokens: 'optional', HttpEndpoint: 'disabled' } },
      { InstanceId: 'i-v1', State: { Name: 'stopped' }, MetadataOptions: { HttpTokens: 'optional', HttpEndpoint: 'enabled' } },
    ], volumes: [], addresses: [], images: [], ebsEncryptionByDefault: { ok: true, value: true }, cpu: {}, securityGroups: [
      { GroupId: 'sg-1', GroupName: 'default', IpPermissions: [], IpPermissionsEgress: [] },
      { GroupId: 'sg-2', GroupName: 'default', IpPermissions: [], IpPermissionsEgress: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] },
    ] }, ctx);
    const ids = ['ec2.sg_default_restricts_all', 'ec2.instance_imdsv2'];
    expect(ev.results.filter((r) => ids.includes(r.checkId)).map((r) => `${r.checkId} ${r.resource.uid.split('/').pop()} ${r.status}`).sort()).toEqual([
      'ec2.instance_imdsv2 i-no-imds PASS', 'ec2.instance_imdsv2 i-v1 FAIL', 'ec2.sg_default_restricts_all sg-1 PASS', 'ec2.sg_default_restricts_all sg-2 FAIL',
    ]);
  });

  it('apply network ACL entries in rule order (a deny before the allow closes the port)', () => {
    const entry = (n: number, action: 'allow' | 'deny', from?: number, to?: number) => ({ RuleNumber: n, RuleAction: action, Egress: false, CidrBlock: '0.0.0.0/0', Protocol: from === undefined ? '-1' : '6', ...(from !== undefined && { PortRange: { From: from, To: to } }) });
    const ev = vpcScanner.evaluate({ vpcs: [], subnets: [], flowLogs: [], defaultVpcInterfaces: {}, networkAcls: [
      { NetworkAclId: 'acl-guarded', Entries: [entry(90, 'deny', 22, 22), entry(91, 'deny', 3389, 3389), entry(100, 'allow')] },
      { NetworkAclId: 'acl-half', Entries: [entry(90, 'deny', 22, 22), entry(100, 'allow')] },
    ] }, ctx);
    expect(outcomes(ev.results)).toEqual(['vpc.nacl_admin_ports_open acl-guarded PASS', 'vpc.nacl_admin_ports_open acl-half FAIL']);
  });

  it('judge IPv4 and IPv6 network ACL entries apart (an IPv4 deny does not stop IPv6 traffic)', () => {
    const entry = (n: number, action: 'allow' | 'deny', cidr: string, port?: number) => ({ RuleNumber: n, RuleAction: action, Egress: false, ...(cidr.includes(':') ? { Ipv6CidrBlock: cidr } : { CidrBlock: cidr }), Protocol: port === undefined ? '-1' : '6', ...(port !== undefined && { PortRange: { From: port, To: port } }) });
    const ev = vpcScanner.evaluate({ vpcs: [], subnets: [], flowLogs: [], defaultVpcInterfaces: {}, networkAcls: [
      { NetworkAclId: 'acl-v4-only-guarded', Entries: [entry(80, 'deny', '0.0.0.0/0', 22), entry(81, 'deny', '0.0.0.0/0', 3389), entry(100, 'allow', '0.0.0.0/0'), entry(101, 'allow', '::/0')] },
      { NetworkAclId: 'acl-both-guarded', Entries: [entry(80, 'deny', '0.0.0.0/0'), entry(81, 'deny', '::/0'), entry(100, 'allow', '0.0.0.0/0'), entry(101, 'allow', '::/0')] },
      { NetworkAclId: 'acl-private', Entries: [entry(100, 'allow', '10.0.0.0/8'), entry(200, 'deny', '0.0.0.0/0')] },
      { NetworkAclId: 'acl-egress', Entries: [{ ...entry(100, 'allow', '0.0.0.0/0'), Egress: true }] },
    ] }, ctx);
    expect(outcomes(ev.results)).toEqual(['vpc.nacl_admin_ports_open acl-both-guarded PASS', 'vpc.nacl_admin_ports_open acl-egress PASS', 'vpc.nacl_admin_ports_open acl-private PASS', 'vpc.nacl_admin_ports_open acl-v4-only-guarded FAIL']);
  });
});

describe('RDS checks', () => {
  it('pass a compliant instance and fail an exposed one, check for check (Performance Insights included: moto cannot keep it on)', () => {
    const ev = rdsScanner.evaluate({ instances: [
      { DBInstanceIdentifier: 'good', PubliclyAccessible: false, StorageEncrypted: true, MultiAZ: true, BackupRetentionPeriod: 7, AutoMinorVersionUpgrade: true, DeletionProtection: true, PerformanceInsightsEnabled: true },
      { DBInstanceIdentifier: 'bad', PubliclyAccessible: true, StorageEncrypted: false, MultiAZ: false, BackupRetentionPeriod: 6, AutoMinorVersionUpgrade: false, DeletionProtection: false, PerformanceInsightsEnabled: false },
    ] }, ctx);
    const by = (name: string) => [...new Set(ev.results.filter((r) => r.resource.name === name).map((r) => r.status))];
    expect(by('good')).toEqual(['PASS']);
    expect(by('bad')).toEqual(['FAIL']);
    expect(ev.results).toHaveLength(2 * rdsScanner.checks.length);
  });
});

describe('CloudTrail checks', () => {
  const trail = (name: string, multi: boolean, logging: boolean, selectors: 'default' | 'write-only' | 'advanced' | 'advanced-read-only') => ({
    trail: { Name: name, TrailARN: `arn:aws:cloudtrail:eu-west-3:123456789012:trail/${name}`, HomeRegion: 'eu-west-3', IsMultiRegionTrail: multi },
    logging: { ok: true as const, value: logging },
    managementEvents: { ok: true as const, value: selectors === 'default' || selectors === 'advanced' },
  });
  const multiRegion = (...trails: ReturnType<typeof trail>[]) => cloudTrailScanner.evaluate({ trails }, ctx).results.find((r) => r.checkId === 'cloudtrail.multi_region')!.status;

  it('pass "on in all regions" only for a multi-region trail that logs management events', () => {
    expect(multiRegion()).toBe('FAIL');
    expect(multiRegion(trail('single', false, true, 'default'))).toBe('FAIL');
    expect(multiRegion(trail('stopped', true, false, 'default'))).toBe('FAIL');
    expect(multiRegion(trail('data-only', true, true, 'write-only'))).toBe('FAIL');
    expect(multiRegion(trail('single', false, true, 'default'), trail('org', true, true, 'advanced'))).toBe('PASS');
    expect(multiRegion({ ...trail('unknown', true, true, 'default'), logging: { ok: false, missing: false, code: 'AccessDeniedException' } as never })).toBe('FAIL');
  });

  it('report a multi-region trail as global and a single-region trail in its region (their scopes)', () => {
    const ev = cloudTrailScanner.evaluate({ trails: [trail('org', true, true, 'default'), trail('local', false, true, 'default')] }, ctx);
    expect(ev.resources.map((r) => `${r.type} ${r.name} ${r.region}`).sort()).toEqual(['AWS::::Account 123456789012 global', 'AWS::CloudTrail::Trail local eu-west-3', 'AWS::CloudTrail::Trail org global']);
  });
});

describe('Secrets Manager checks', () => {
  it('fail secrets not read for 90 days, or never read 90 days after creation', () => {
    const day = 86_400_000;
    const ev = secretsManagerScanner.evaluate({ secrets: [
      { Name: 'read-recently', ARN: 'arn:1', CreatedDate: new Date(now.getTime() - 400 * day), LastAccessedDate: new Date(now.getTime() - 2 * day), RotationEnabled: true },
      { Name: 'forgotten', ARN: 'arn:2', CreatedDate: new Date(now.getTime() - 400 * day), LastAccessedDate: new Date(now.getTime() - 120 * day) },
      { Name: 'never-read-old', ARN: 'arn:3', CreatedDate: new Date(now.getTime() - 100 * day) },
    ] }, ctx);
    expect(outcomes(ev.results.filter((r) => r.checkId === 'secretsmanager.in_use'))).toEqual(['secretsmanager.in_use forgotten FAIL', 'secretsmanager.in_use never-read-old FAIL', 'secretsmanager.in_use read-recently PASS']);
  });
});
