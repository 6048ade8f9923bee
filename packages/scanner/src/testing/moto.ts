/**
 * Fixtures on moto (tests and bench): an account of its own per fixture — moto keeps resources
 * per account, and STS AssumeRole into `arn:aws:iam::<account>:role/...` hands out credentials
 * that belong to that account — so suites sharing one moto server never see each other's data
 * and nothing global is ever reset.
 *
 * `seedPosture` builds deliberately insecure and wasteful resources next to compliant ones and
 * returns the outcome every check must give on every resource.
 */
import { randomInt } from 'node:crypto';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AttachVolumeCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateFlowLogsCommand,
  CreateImageCommand,
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  CreateNetworkInterfaceCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVolumeCommand,
  CreateVpcCommand,
  DescribeAvailabilityZonesCommand,
  DescribeNetworkAclsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DescribeVpcsCommand,
  EC2Client,
  EnableEbsEncryptionByDefaultCommand,
  ModifyImageAttributeCommand,
  ModifySubnetAttributeCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  type Instance,
  type Tag,
} from '@aws-sdk/client-ec2';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateBucketCommand,
  PutBucketAclCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketLoggingCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { PutPublicAccessBlockCommand as PutAccountPublicAccessBlockCommand, S3ControlClient } from '@aws-sdk/client-s3-control';
import { CreateDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import {
  AddUserToGroupCommand,
  AttachGroupPolicyCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateGroupCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreateUserCommand,
  CreateVirtualMFADeviceCommand,
  EnableMFADeviceCommand,
  IAMClient,
  UpdateAccountPasswordPolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyRotationCommand, KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { CreateTrailCommand, CloudTrailClient, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { CreateSecretCommand, RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateStreamCommand, EnableEnhancedMonitoringCommand, KinesisClient, StartStreamEncryptionCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { StaticKeys } from '../aws/connection.js';
import type { CheckStatus } from '../types.js';

export interface MotoAccount {
  accountId: string;
  endpoint: string;
  /** Credentials of a session in the account (moto STS AssumeRole): pass them as static keys. */
  keys: Required<StaticKeys>;
}

/** A fresh 12-digit account id no other suite uses. */
export function uniqueAccountId(): string {
  return `9${String(randomInt(0, 1e11)).padStart(11, '0')}`;
}

/** Credentials in `accountId` from moto's STS (any source keys are accepted). */
export async function motoAccount(endpoint: string, accountId = uniqueAccountId()): Promise<MotoAccount> {
  const sts = new STSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const out = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/strata-fixture`, RoleSessionName: 'fixture' }));
  sts.destroy();
  const c = out.Credentials!;
  return { accountId, endpoint, keys: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } };
}

export function clientConfig(account: MotoAccount, region: string) {
  // A copy: the SDK marks the credentials objects it is given (`$source`).
  return { region, endpoint: account.endpoint, credentials: { ...account.keys }, forcePathStyle: true, maxAttempts: 3 };
}

const tags = (name: string, resource: 'instance' | 'volume' | 'vpc' | 'subnet' | 'security-group' | 'network-acl' | 'elastic-ip') => [{ ResourceType: resource, Tags: [{ Key: 'Name', Value: name }] as Tag[] }];

/** The outcome a check must give on a resource: `type name` identifies the resource within the fixture's account. */
export interface Expected {
  check: string;
  type: string;
  name: string;
  region: string;
  status: CheckStatus;
}

export interface PostureFixture {
  account: MotoAccount;
  /** Regions with resources: `main` has the insecure and the compliant ones, `quiet` only compliant settings. */
  regions: { main: string; quiet: string };
  expected: Expected[];
}

const PASS = 'PASS' as const;
const FAIL = 'FAIL' as const;

/**
 * Seeds one account with resources for every check, insecure and compliant, in `main` (and
 * account-wide), plus a `quiet` region with EBS encryption by default on. Returns what each check
 * must say on each resource, defaults AWS (moto) creates included.
 */
export async function seedPosture(endpoint: string, regions = { main: 'eu-west-3', quiet: 'eu-north-1' }): Promise<PostureFixture> {
  const account = await motoAccount(endpoint);
  const R = regions.main;
  const cfg = clientConfig(account, R);
  const expected: Expected[] = [];
  const expect = (type: string, name: string, region: string, outcomes: Record<string, CheckStatus>) => {
    for (const [check, status] of Object.entries(outcomes)) expected.push({ check, type, name, region, status });
  };
  const ec2 = new EC2Client(cfg);
  const cw = new CloudWatchClient(cfg);
  const s3 = new S3Client(cfg);
  const rds = new RDSClient(cfg);
  const iam = new IAMClient(cfg);
  const kms = new KMSClient(cfg);
  const ct = new CloudTrailClient(cfg);
  const sm = new SecretsManagerClient(cfg);
  const kinesis = new KinesisClient({ ...cfg, requestHandler: new NodeHttpHandler() });
  try {
    // ---------- VPC and EC2 ----------
    const zones = ((await ec2.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones ?? []).map((z) => z.ZoneName!);
    const appVpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16', TagSpecifications: tags('app-vpc', 'vpc') }))).Vpc!.VpcId!;
    const appA = (await ec2.send(new CreateSubnetCommand({ VpcId: appVpc, CidrBlock: '10.1.1.0/24', AvailabilityZone: zones[0], TagSpecifications: tags('app-a', 'subnet') }))).Subnet!.SubnetId!;
    await ec2.send(new CreateSubnetCommand({ VpcId: appVpc, CidrBlock: '10.1.2.0/24', AvailabilityZone: zones[1], TagSpecifications: tags('app-b', 'subnet') }));
    const lonelyVpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.2.0.0/16', TagSpecifications: tags('lonely-vpc', 'vpc') }))).Vpc!.VpcId!;
    const lonelySubnet = (await ec2.send(new CreateSubnetCommand({ VpcId: lonelyVpc, CidrBlock: '10.2.1.0/24', AvailabilityZone: zones[0], TagSpecifications: tags('lonely-public', 'subnet') }))).Subnet!.SubnetId!;
    await ec2.send(new ModifySubnetAttributeCommand({ SubnetId: lonelySubnet, MapPublicIpOnLaunch: { Value: true } }));
    const lockedAcl = (await ec2.send(new CreateNetworkAclCommand({ VpcId: appVpc, TagSpecifications: tags('locked-acl', 'network-acl') }))).NetworkAcl!.NetworkAclId!;
    await ec2.send(new CreateNetworkAclEntryCommand({ NetworkAclId: lockedAcl, RuleNumber: 100, Protocol: '6', RuleAction: 'allow', Egress: false, CidrBlock: '0.0.0.0/0', PortRange: { From: 443, To: 443 } }));

    // Security groups, in the app VPC (the default VPC's default group is judged too).
    const sg = async (name: string, vpc: string) => (await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: name, VpcId: vpc }))).GroupId!;
    const openAdmin = await sg('open-admin', appVpc);
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: openAdmin, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    const openAll = await sg('open-all', appVpc);
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: openAll, IpPermissions: [{ IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0' }] }] }));
    const closed = await sg('closed', appVpc);
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: closed, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }] }));
    expect('AWS::EC2::SecurityGroup', 'open-admin', R, { 'ec2.sg_admin_ports_open': FAIL, 'ec2.sg_all_traffic_open': PASS });
    expect('AWS::EC2::SecurityGroup', 'open-all', R, { 'ec2.sg_admin_ports_open': FAIL, 'ec2.sg_all_traffic_open': FAIL });
    expect('AWS::EC2::SecurityGroup', 'closed', R, { 'ec2.sg_admin_ports_open': PASS, 'ec2.sg_all_traffic_open': PASS });
    // The lonely VPC's default group, emptied as CIS 5.4 asks.
    const lonelyDefault = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [lonelyVpc] }, { Name: 'group-name', Values: ['default'] }] }))).SecurityGroups![0]!;
    if (lonelyDefault.IpPermissions?.length) await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: lonelyDefault.GroupId!, IpPermissions: lonelyDefault.IpPermissions }));
    if (lonelyDefault.IpPermissionsEgress?.length) await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: lonelyDefault.GroupId!, IpPermissions: lonelyDefault.IpPermissionsEgress }));

    // Instances: one insecure and idle, one compliant and busy, one saturated, one stopped with its volume.
    const image = 'ami-12c6146b';
    const run = async (name: string, type: string, opts: Record<string, unknown>): Promise<Instance> =>
      (await ec2.send(new RunInstancesCommand({ ImageId: image, InstanceType: type as 't3.micro', MinCount: 1, MaxCount: 1, TagSpecifications: tags(name, 'instance'), ...opts }))).Instances![0]!;
    const insecure = await run('insecure-web', 't2.micro', { MetadataOptions: { HttpTokens: 'optional' } });
    const secure = await run('secure-app', 'm5.large', { MetadataOptions: { HttpTokens: 'required' }, Monitoring: { Enabled: true }, NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: appA, AssociatePublicIpAddress: false, Groups: [closed] }] });
    const busy = await run('busy-worker', 'c7g.xlarge', { MetadataOptions: { HttpTokens: 'required' }, Monitoring: { Enabled: true }, NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: appA, AssociatePublicIpAddress: false, Groups: [closed] }] });
    const stopped = await run('stopped-box', 'm5.large', { MetadataOptions: { HttpTokens: 'required' }, Monitoring: { Enabled: true }, NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: appA, AssociatePublicIpAddress: false, Groups: [closed] }] });
    await ec2.send(new StopInstancesCommand({ InstanceIds: [stopped.InstanceId!] }));
    const cpu = async (instance: Instance, percent: number) => {
      const day = 86_400_000;
      await cw.send(new PutMetricDataCommand({
        Namespace: 'AWS/EC2',
        MetricData: [1, 2, 3].map((d) => ({ MetricName: 'CPUUtilization', Dimensions: [{ Name: 'InstanceId', Value: instance.InstanceId! }], Timestamp: new Date(Date.now() - d * day), Value: percent, Unit: 'Percent' })),
      }));
    };
    await cpu(insecure, 1.5);
    await cpu(secure, 40);
    await cpu(busy, 97);
    expect('AWS::EC2::Instance', 'insecure-web', R, {
      'ec2.instance_imdsv2': FAIL, 'ec2.instance_public_ip': FAIL, 'ec2.instance_detailed_monitoring': FAIL,
      'ec2.instance_current_generation': FAIL, 'ec2.instance_idle': FAIL, 'ec2.instance_cpu_saturated': PASS, 'ec2.instance_stopped_volumes': PASS,
    });
    const healthy = { 'ec2.instance_imdsv2': PASS, 'ec2.instance_public_ip': PASS, 'ec2.instance_detailed_monitoring': PASS, 'ec2.instance_current_generation': PASS, 'ec2.instance_stopped_volumes': PASS };
    expect('AWS::EC2::Instance', 'secure-app', R, { ...healthy, 'ec2.instance_idle': PASS, 'ec2.instance_cpu_saturated': PASS });
    expect('AWS::EC2::Instance', 'busy-worker', R, { ...healthy, 'ec2.instance_idle': PASS, 'ec2.instance_cpu_saturated': FAIL });
    expect('AWS::EC2::Instance', 'stopped-box', R, { ...healthy, 'ec2.instance_stopped_volumes': FAIL });

    // Volumes: an unencrypted orphan, an encrypted one attached; each instance has an unencrypted root
    // volume (EBS encryption by default is off in main), attached (a stopped instance keeps it).
    await ec2.send(new CreateVolumeCommand({ AvailabilityZone: zones[0], Size: 10, TagSpecifications: tags('orphan-plain', 'volume') }));
    const data = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: zones[0], Size: 20, Encrypted: true, TagSpecifications: tags('data-encrypted', 'volume') }))).VolumeId!;
    await ec2.send(new AttachVolumeCommand({ VolumeId: data, InstanceId: secure.InstanceId!, Device: '/dev/sdf' }));
    expect('AWS::EC2::Volume', 'orphan-plain', R, { 'ec2.volume_encrypted': FAIL, 'ec2.volume_unattached': FAIL });
    expect('AWS::EC2::Volume', 'data-encrypted', R, { 'ec2.volume_encrypted': PASS, 'ec2.volume_unattached': PASS });
    for (const instance of [insecure, secure, busy, stopped]) {
      const own = ((await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instance.InstanceId!] }] }))).Volumes ?? []).filter((v) => v.VolumeId !== data);
      if (own.length !== 1) throw new Error(`fixture: expected one root volume on ${instance.InstanceId}, found ${own.length}`);
      expect('AWS::EC2::Volume', own[0]!.VolumeId!, R, { 'ec2.volume_encrypted': FAIL, 'ec2.volume_unattached': PASS });
    }

    // Elastic IPs: one idle, one on a network interface (of a load balancer, say: no instance gets a public IP).
    const idle = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: tags('eip-idle', 'elastic-ip') }));
    const used = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: tags('eip-used', 'elastic-ip') }));
    const eni = (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: appA, Description: 'nlb' }))).NetworkInterface!.NetworkInterfaceId!;
    await ec2.send(new AssociateAddressCommand({ AllocationId: used.AllocationId!, NetworkInterfaceId: eni }));
    expect('AWS::EC2::EIP', idle.PublicIp!, R, { 'ec2.eip_associated': FAIL });
    expect('AWS::EC2::EIP', used.PublicIp!, R, { 'ec2.eip_associated': PASS });

    // Images: one private, one shared with everyone.
    await ec2.send(new CreateImageCommand({ InstanceId: secure.InstanceId!, Name: 'golden-private' }));
    const shared = (await ec2.send(new CreateImageCommand({ InstanceId: secure.InstanceId!, Name: 'golden-public' }))).ImageId!;
    await ec2.send(new ModifyImageAttributeCommand({ ImageId: shared, LaunchPermission: { Add: [{ Group: 'all' }] } }));
    expect('AWS::EC2::Image', 'golden-private', R, { 'ec2.ami_private': PASS });
    expect('AWS::EC2::Image', 'golden-public', R, { 'ec2.ami_private': FAIL });

    // Region settings: EBS encryption by default off in main, on in quiet.
    expect('AWS::EC2::Region', R, R, { 'ec2.ebs_encryption_by_default': FAIL });
    await new EC2Client(clientConfig(account, regions.quiet)).send(new EnableEbsEncryptionByDefaultCommand({}));
    expect('AWS::EC2::Region', regions.quiet, regions.quiet, { 'ec2.ebs_encryption_by_default': PASS });

    // Flow logs on the app VPC only (to the log bucket made below).
    const prefix = `strata-${account.accountId}`;
    const logBucket = `${prefix}-logs`;
    await s3.send(new CreateBucketCommand({ Bucket: logBucket, CreateBucketConfiguration: { LocationConstraint: R as 'eu-west-3' } }));
    await ec2.send(new CreateFlowLogsCommand({ ResourceIds: [appVpc], ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 's3', LogDestination: `arn:aws:s3:::${logBucket}` }));

    // Defaults: in each region a default VPC (three subnets, a default ACL, a default group), and per custom VPC a default ACL and group.
    for (const region of [R, regions.quiet]) {
      const e = region === R ? ec2 : new EC2Client(clientConfig(account, region));
      const vpcs = (await e.send(new DescribeVpcsCommand({}))).Vpcs ?? [];
      const subnets = (await e.send(new DescribeSubnetsCommand({}))).Subnets ?? [];
      const acls = (await e.send(new DescribeNetworkAclsCommand({}))).NetworkAcls ?? [];
      const groups = (await e.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? [];
      for (const v of vpcs) {
        const name = v.Tags?.find((t) => t.Key === 'Name')?.Value ?? v.VpcId!;
        if (v.IsDefault) expect('AWS::EC2::VPC', name, region, { 'vpc.default_vpc_unused': region === R ? FAIL : PASS, 'vpc.flow_logs': FAIL, 'vpc.multi_az': PASS });
        else if (v.VpcId === appVpc) expect('AWS::EC2::VPC', name, region, { 'vpc.flow_logs': PASS, 'vpc.multi_az': PASS });
        else expect('AWS::EC2::VPC', name, region, { 'vpc.flow_logs': FAIL, 'vpc.multi_az': FAIL });
      }
      for (const s of subnets) {
        const name = s.Tags?.find((t) => t.Key === 'Name')?.Value ?? s.SubnetId!;
        expect('AWS::EC2::Subnet', name, region, { 'vpc.subnet_no_auto_public_ip': s.DefaultForAz || s.SubnetId === lonelySubnet ? FAIL : PASS });
      }
      for (const a of acls) {
        const name = a.Tags?.find((t) => t.Key === 'Name')?.Value ?? a.NetworkAclId!;
        expect('AWS::EC2::NetworkAcl', name, region, { 'vpc.nacl_admin_ports_open': a.NetworkAclId === lockedAcl ? PASS : FAIL });
      }
      // One default group per VPC, all named `default` (expectations are compared as a multiset): each
      // keeps AWS's rules (ingress from itself, egress anywhere), but the lonely VPC's, emptied above.
      for (const g of groups.filter((x) => x.GroupName === 'default')) {
        expect('AWS::EC2::SecurityGroup', 'default', region, { 'ec2.sg_admin_ports_open': PASS, 'ec2.sg_all_traffic_open': PASS, 'ec2.sg_default_restricts_all': g.VpcId === lonelyVpc ? PASS : FAIL });
      }
    }

    // ---------- S3 ----------
    const bucket = async (name: string) => s3.send(new CreateBucketCommand({ Bucket: name, CreateBucketConfiguration: { LocationConstraint: R as 'eu-west-3' } }));
    const open = `${prefix}-open`;
    await bucket(open);
    await s3.send(new PutBucketAclCommand({ Bucket: open, ACL: 'public-read' }));
    const tidy = `${prefix}-tidy`;
    await bucket(tidy);
    const allOn = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };
    await s3.send(new PutPublicAccessBlockCommand({ Bucket: tidy, PublicAccessBlockConfiguration: allOn }));
    await s3.send(new PutBucketEncryptionCommand({ Bucket: tidy, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }] } }));
    await s3.send(new PutBucketPolicyCommand({
      Bucket: tidy,
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'TlsOnly', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${tidy}`, `arn:aws:s3:::${tidy}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } }] }),
    }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: tidy, VersioningConfiguration: { Status: 'Enabled' } }));
    const logDelivery = 'uri="http://acs.amazonaws.com/groups/s3/LogDelivery"';
    await s3.send(new PutBucketAclCommand({ Bucket: logBucket, GrantWrite: logDelivery, GrantReadACP: logDelivery, GrantFullControl: `id="${account.accountId}"` }));
    await s3.send(new PutBucketLoggingCommand({ Bucket: tidy, BucketLoggingStatus: { LoggingEnabled: { TargetBucket: logBucket, TargetPrefix: 'tidy/' } } }));
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: tidy, LifecycleConfiguration: { Rules: [{ ID: 'ia', Status: 'Enabled', Filter: { Prefix: '' }, Transitions: [{ Days: 30, StorageClass: 'STANDARD_IA' }] }] } }));
    const allBucketChecks = ['s3.bucket_public_access_block', 's3.bucket_public_acl', 's3.bucket_encryption', 's3.bucket_secure_transport', 's3.bucket_versioning', 's3.bucket_logging', 's3.bucket_lifecycle'];
    expect('AWS::S3::Bucket', open, R, Object.fromEntries(allBucketChecks.map((c) => [c, FAIL])));
    expect('AWS::S3::Bucket', tidy, R, Object.fromEntries(allBucketChecks.map((c) => [c, PASS])));
    expect('AWS::S3::Bucket', logBucket, R, Object.fromEntries(allBucketChecks.map((c) => [c, c === 's3.bucket_public_acl' ? PASS : FAIL])));
    expect('AWS::::Account', account.accountId, 'global', { 's3.account_public_access_block': FAIL });

    // ---------- RDS ----------
    const db = (id: string, extra: Record<string, unknown>) =>
      rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: id, DBInstanceClass: 'db.t3.micro', Engine: 'postgres', AllocatedStorage: 20, MasterUsername: 'strata', MasterUserPassword: 'not-a-real-password-1', ...extra }));
    await db('db-exposed', { PubliclyAccessible: true, StorageEncrypted: false, MultiAZ: false, BackupRetentionPeriod: 1, AutoMinorVersionUpgrade: false, DeletionProtection: false, EnablePerformanceInsights: false });
    await db('db-guarded', { PubliclyAccessible: false, StorageEncrypted: true, MultiAZ: true, BackupRetentionPeriod: 7, AutoMinorVersionUpgrade: true, DeletionProtection: true, EnablePerformanceInsights: true });
    const rdsChecks = ['rds.instance_public', 'rds.instance_encrypted', 'rds.instance_multi_az', 'rds.instance_backup_retention', 'rds.instance_minor_upgrades', 'rds.instance_deletion_protection', 'rds.instance_performance_insights'];
    expect('AWS::RDS::DBInstance', 'db-exposed', R, Object.fromEntries(rdsChecks.map((c) => [c, FAIL])));
    // moto 5.2.1 accepts EnablePerformanceInsights but always reports it off: the one Fail on db-guarded.
    expect('AWS::RDS::DBInstance', 'db-guarded', R, Object.fromEntries(rdsChecks.map((c) => [c, c === 'rds.instance_performance_insights' ? FAIL : PASS])));

    // ---------- IAM ----------
    await iam.send(new CreatePolicyCommand({ PolicyName: 'admin-star', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }) }));
    const readOnly = (await iam.send(new CreatePolicyCommand({ PolicyName: 's3-read', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::data/*' }] }) }))).Policy!.Arn!;
    await iam.send(new CreateGroupCommand({ GroupName: 'readers' }));
    await iam.send(new AttachGroupPolicyCommand({ GroupName: 'readers', PolicyArn: readOnly }));
    for (const u of ['alice-console', 'bob-mfa', 'ci-bot']) await iam.send(new CreateUserCommand({ UserName: u }));
    await iam.send(new AddUserToGroupCommand({ UserName: 'alice-console', GroupName: 'readers' }));
    await iam.send(new CreateLoginProfileCommand({ UserName: 'alice-console', Password: 'Correct-horse-battery-42' }));
    await iam.send(new CreateLoginProfileCommand({ UserName: 'bob-mfa', Password: 'Correct-horse-battery-43' }));
    const mfa = (await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: 'bob' }))).VirtualMFADevice!.SerialNumber!;
    await iam.send(new EnableMFADeviceCommand({ UserName: 'bob-mfa', SerialNumber: mfa, AuthenticationCode1: '123456', AuthenticationCode2: '654321' }));
    await iam.send(new AttachUserPolicyCommand({ UserName: 'bob-mfa', PolicyArn: readOnly }));
    await iam.send(new CreateAccessKeyCommand({ UserName: 'ci-bot' }));
    const fresh = { 'iam.access_key_rotated': PASS, 'iam.access_key_used': PASS };
    expect('AWS::IAM::User', 'alice-console', 'global', { 'iam.user_mfa': FAIL, 'iam.user_policies_via_groups': PASS, ...fresh });
    expect('AWS::IAM::User', 'bob-mfa', 'global', { 'iam.user_mfa': PASS, 'iam.user_policies_via_groups': FAIL, ...fresh });
    expect('AWS::IAM::User', 'ci-bot', 'global', { 'iam.user_mfa': PASS, 'iam.user_policies_via_groups': PASS, ...fresh });
    expect('AWS::IAM::Policy', 'admin-star', 'global', { 'iam.policy_no_admin_star': FAIL });
    expect('AWS::IAM::Policy', 's3-read', 'global', { 'iam.policy_no_admin_star': PASS });
    expect('AWS::::Account', account.accountId, 'global', { 'iam.root_access_keys': PASS, 'iam.root_mfa': FAIL, 'iam.password_policy': FAIL });

    // ---------- KMS ----------
    const key = async (description: string) => (await kms.send(new CreateKeyCommand({ Description: description }))).KeyMetadata!.KeyId!;
    const rotating = await key('rotating');
    await kms.send(new EnableKeyRotationCommand({ KeyId: rotating }));
    const still = await key('never-rotated');
    const off = await key('disabled');
    await kms.send(new DisableKeyCommand({ KeyId: off }));
    expect('AWS::KMS::Key', rotating, R, { 'kms.key_rotation': PASS, 'kms.key_disabled': PASS });
    expect('AWS::KMS::Key', still, R, { 'kms.key_rotation': FAIL, 'kms.key_disabled': PASS });
    expect('AWS::KMS::Key', off, R, { 'kms.key_rotation': FAIL, 'kms.key_disabled': FAIL });
    // moto makes the EBS default key when the encrypted volume is created, as a customer-managed key that does not rotate.
    for (const k of (await kms.send(new ListKeysCommand({}))).Keys ?? []) {
      const m = (await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId! }))).KeyMetadata!;
      if (m.Description?.startsWith('Default master key')) expect('AWS::KMS::Key', m.KeyId!, R, { 'kms.key_rotation': FAIL, 'kms.key_disabled': PASS });
    }

    // ---------- CloudTrail: one single-region trail, not logging, nothing set ----------
    await ct.send(new CreateTrailCommand({ Name: 'trail-basic', S3BucketName: logBucket }));
    expect('AWS::CloudTrail::Trail', 'trail-basic', R, { 'cloudtrail.log_file_validation': FAIL, 'cloudtrail.kms_encryption': FAIL, 'cloudtrail.cloudwatch_logs': FAIL });
    expect('AWS::::Account', account.accountId, 'global', { 'cloudtrail.multi_region': FAIL });

    // ---------- Secrets Manager ----------
    await sm.send(new CreateSecretCommand({ Name: 'api-token-static', SecretString: 'not-a-secret' }));
    const rotated = (await sm.send(new CreateSecretCommand({ Name: 'db-password-rotating', SecretString: 'not-a-secret' }))).ARN!;
    await sm.send(new RotateSecretCommand({ SecretId: rotated, RotationLambdaARN: `arn:aws:lambda:${R}:${account.accountId}:function:rotate`, RotationRules: { AutomaticallyAfterDays: 30 } })).catch(() => undefined);
    expect('AWS::SecretsManager::Secret', 'api-token-static', R, { 'secretsmanager.rotation': FAIL, 'secretsmanager.in_use': PASS });
    expect('AWS::SecretsManager::Secret', 'db-password-rotating', R, { 'secretsmanager.rotation': PASS, 'secretsmanager.in_use': PASS });

    // ---------- Kinesis ----------
    await kinesis.send(new CreateStreamCommand({ StreamName: 'telemetry-plain', ShardCount: 1 }));
    await kinesis.send(new CreateStreamCommand({ StreamName: 'telemetry-sealed', ShardCount: 1 }));
    await kinesis.send(new StartStreamEncryptionCommand({ StreamName: 'telemetry-sealed', EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }));
    await kinesis.send(new EnableEnhancedMonitoringCommand({ StreamName: 'telemetry-sealed', ShardLevelMetrics: ['IncomingBytes'] }));
    expect('AWS::Kinesis::Stream', 'telemetry-plain', R, { 'kinesis.stream_encrypted': FAIL, 'kinesis.stream_enhanced_monitoring': FAIL });
    expect('AWS::Kinesis::Stream', 'telemetry-sealed', R, { 'kinesis.stream_encrypted': PASS, 'kinesis.stream_enhanced_monitoring': PASS });
  } finally {
    for (const c of [ec2, cw, s3, rds, iam, kms, ct, sm, kinesis]) c.destroy();
  }
  return { account, regions, expected };
}

/**
 * An account whose account-wide settings comply: S3 Block Public Access, a CIS password policy,
 * a multi-region trail that logs, validates, encrypts and feeds CloudWatch Logs.
 */
export async function seedCompliantAccount(endpoint: string, accountId: string, homeRegion: string): Promise<Expected[]> {
  const account = await motoAccount(endpoint, accountId);
  const cfg = clientConfig(account, homeRegion);
  const s3 = new S3Client(cfg);
  const control = new S3ControlClient({ region: homeRegion, credentials: { ...account.keys }, endpointProvider: () => ({ url: new URL(endpoint) }) });
  const iam = new IAMClient(cfg);
  const ct = new CloudTrailClient(cfg);
  const kms = new KMSClient(cfg);
  try {
    await control.send(new PutAccountPublicAccessBlockCommand({ AccountId: accountId, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true } }));
    await iam.send(new UpdateAccountPasswordPolicyCommand({ MinimumPasswordLength: 14, PasswordReusePrevention: 24, RequireSymbols: true }));
    const bucket = `strata-${accountId}-trail`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: homeRegion as 'eu-west-3' } }));
    const keyArn = (await kms.send(new CreateKeyCommand({ Description: 'trail' }))).KeyMetadata!.Arn!;
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyArn }));
    await ct.send(new CreateTrailCommand({
      Name: 'trail-org', S3BucketName: bucket, IsMultiRegionTrail: true, EnableLogFileValidation: true, KmsKeyId: keyArn,
      CloudWatchLogsLogGroupArn: `arn:aws:logs:${homeRegion}:${accountId}:log-group:trail:*`, CloudWatchLogsRoleArn: `arn:aws:iam::${accountId}:role/trail-to-logs`,
    }));
    await ct.send(new StartLoggingCommand({ Name: 'trail-org' }));
    return [
      { check: 's3.account_public_access_block', type: 'AWS::::Account', name: accountId, region: 'global', status: PASS },
      { check: 'iam.password_policy', type: 'AWS::::Account', name: accountId, region: 'global', status: PASS },
      { check: 'cloudtrail.multi_region', type: 'AWS::::Account', name: accountId, region: 'global', status: PASS },
      // A multi-region trail is reported in region `global`.
      ...['cloudtrail.log_file_validation', 'cloudtrail.kms_encryption', 'cloudtrail.cloudwatch_logs'].map((check) => ({ check, type: 'AWS::CloudTrail::Trail', name: 'trail-org', region: 'global', status: PASS })),
    ];
  } finally {
    for (const c of [s3, control, iam, ct, kms]) c.destroy();
  }
}
