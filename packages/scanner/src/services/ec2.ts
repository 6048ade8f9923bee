/** EC2: instances (with 14 days of CloudWatch CPU), volumes, Elastic IPs, owned AMIs, security groups, the EBS default-encryption setting. */
import {
  DescribeAddressesCommand,
  DescribeImagesCommand,
  EC2Client,
  GetEbsEncryptionByDefaultCommand,
  paginateDescribeInstances,
  paginateDescribeSecurityGroups,
  paginateDescribeVolumes,
  type Address,
  type Image,
  type Instance,
  type IpPermission,
  type SecurityGroup,
  type Volume,
} from '@aws-sdk/client-ec2';
import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { ResourceRef } from '../types.js';
import { ADMIN_PORTS, coversTcpPort, WORLD } from './network.js';
import { DAY_MS, nameTag, read, Results, tagsOf, type Read, type ServiceScanner } from './service.js';

export interface Ec2Snapshot {
  instances: Instance[];
  volumes: Volume[];
  addresses: Address[];
  images: Image[];
  securityGroups: SecurityGroup[];
  ebsEncryptionByDefault: Read<boolean>;
  /** Average CPU % over the window per running instance id; absent when CloudWatch has no data. */
  cpu: Record<string, number>;
}

export const CPU_WINDOW_DAYS = 14;
export const IDLE_CPU_PERCENT = 5;
export const SATURATED_CPU_PERCENT = 90;
/** Families AWS lists as previous generation. */
const PREVIOUS_GENERATION = /^(t1|t2|m1|m2|m3|m4|c1|c3|c4|r3|r4|i2|d2|g2|g3|p2|cc2|cr1|hs1|hi1|x1)\./;

export const ec2Scanner: ServiceScanner<Ec2Snapshot> = {
  service: 'ec2',
  scope: 'regional',
  checks: [
    'ec2.sg_admin_ports_open', 'ec2.sg_all_traffic_open', 'ec2.sg_default_restricts_all', 'ec2.instance_imdsv2', 'ec2.instance_public_ip',
    'ec2.instance_detailed_monitoring', 'ec2.instance_current_generation', 'ec2.instance_idle', 'ec2.instance_cpu_saturated',
    'ec2.instance_stopped_volumes', 'ec2.volume_encrypted', 'ec2.volume_unattached', 'ec2.ebs_encryption_by_default', 'ec2.eip_associated', 'ec2.ami_private',
  ],

  async collect({ conn, region, now }) {
    const ec2 = conn.client('ec2', region, (c) => new EC2Client(c));
    const instances: Instance[] = [];
    for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 1000 }, {})) {
      for (const r of page.Reservations ?? []) instances.push(...(r.Instances ?? []));
    }
    const volumes: Volume[] = [];
    for await (const page of paginateDescribeVolumes({ client: ec2, pageSize: 1000 }, {})) volumes.push(...(page.Volumes ?? []));
    const securityGroups: SecurityGroup[] = [];
    for await (const page of paginateDescribeSecurityGroups({ client: ec2, pageSize: 1000 }, {})) securityGroups.push(...(page.SecurityGroups ?? []));
    const addresses = (await ec2.send(new DescribeAddressesCommand({}))).Addresses ?? [];
    const images = (await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? [];
    const ebsEncryptionByDefault = await read(async () => (await ec2.send(new GetEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault ?? false, []);

    const running = instances.filter((i) => i.State?.Name === 'running' && i.InstanceId).map((i) => i.InstanceId!);
    const cpu: Record<string, number> = {};
    if (running.length > 0) {
      const cw = conn.client('cloudwatch', region, (c) => new CloudWatchClient(c));
      // One GetMetricData call per 500 instances: daily averages over the window, averaged here.
      for (let i = 0; i < running.length; i += 500) {
        const batch = running.slice(i, i + 500);
        const queries: MetricDataQuery[] = batch.map((id, j) => ({
          Id: `i${j}`,
          MetricStat: { Metric: { Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Dimensions: [{ Name: 'InstanceId', Value: id }] }, Period: 86_400, Stat: 'Average' },
          ReturnData: true,
        }));
        let token: string | undefined;
        const sums = new Map<string, { sum: number; n: number }>();
        do {
          const out = await cw.send(new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: new Date(now.getTime() - CPU_WINDOW_DAYS * DAY_MS), EndTime: now, NextToken: token }));
          for (const r of out.MetricDataResults ?? []) {
            const id = batch[Number(r.Id?.slice(1))];
            if (id === undefined) continue;
            const acc = sums.get(id) ?? { sum: 0, n: 0 };
            for (const v of r.Values ?? []) {
              acc.sum += v;
              acc.n++;
            }
            sums.set(id, acc);
          }
          token = out.NextToken;
        } while (token);
        for (const [id, { sum, n }] of sums) if (n > 0) cpu[id] = sum / n;
      }
    }
    return { instances, volumes, addresses, images, securityGroups, ebsEncryptionByDefault, cpu };
  },

  evaluate(s, { region, target }) {
    const out = new Results();
    const arn = (kind: string, id: string) => `arn:${target.partition}:ec2:${region}:${target.accountId}:${kind}/${id}`;

    for (const sg of s.securityGroups) {
      const id = sg.GroupId ?? '?';
      const ref: ResourceRef = { uid: arn('security-group', id), type: 'AWS::EC2::SecurityGroup', name: sg.GroupName ?? id, region, ...tagsOf(sg.Tags) };
      const open = (sg.IpPermissions ?? []).filter(fromWorld);
      const admin = open.filter((p) => ADMIN_PORTS.some((port) => coversTcpPort(p.IpProtocol, p.FromPort, p.ToPort, port)));
      out.check('ec2.sg_admin_ports_open', ref, admin.length === 0, admin.length === 0 ? 'no world-open rule covers 22 or 3389' : `world-open: ${admin.map(describeRule).join(', ')}`);
      const all = open.filter((p) => p.IpProtocol === '-1');
      out.check('ec2.sg_all_traffic_open', ref, all.length === 0, all.length === 0 ? 'no world-open all-traffic rule' : 'all protocols and ports open to the world');
      if (sg.GroupName === 'default') {
        const rules = (sg.IpPermissions?.length ?? 0) + (sg.IpPermissionsEgress?.length ?? 0);
        out.check('ec2.sg_default_restricts_all', ref, rules === 0, `${sg.IpPermissions?.length ?? 0} ingress and ${sg.IpPermissionsEgress?.length ?? 0} egress rules`);
      }
    }

    for (const i of s.instances) {
      const id = i.InstanceId ?? '?';
      const state = i.State?.Name ?? 'unknown';
      if (state === 'terminated' || state === 'shutting-down') continue;
      const ref: ResourceRef = { uid: arn('instance', id), type: 'AWS::EC2::Instance', name: nameTag(i.Tags) ?? id, region, ...tagsOf(i.Tags) };
      const tokens = i.MetadataOptions?.HttpTokens ?? 'optional';
      const imdsOff = i.MetadataOptions?.HttpEndpoint === 'disabled';
      out.check('ec2.instance_imdsv2', ref, imdsOff || tokens === 'required', imdsOff ? 'metadata service disabled' : `HttpTokens ${tokens}`);
      out.check('ec2.instance_public_ip', ref, !i.PublicIpAddress, i.PublicIpAddress ? `public IP ${i.PublicIpAddress}` : 'no public IP');
      const monitoring = i.Monitoring?.State ?? 'disabled';
      out.check('ec2.instance_detailed_monitoring', ref, monitoring === 'enabled' || monitoring === 'pending', `monitoring ${monitoring}`);
      const type = i.InstanceType ?? 'unknown';
      out.check('ec2.instance_current_generation', ref, !PREVIOUS_GENERATION.test(type), `type ${type}`);
      const attached = (i.BlockDeviceMappings ?? []).filter((b) => b.Ebs?.VolumeId).length;
      if (state === 'stopped') out.check('ec2.instance_stopped_volumes', ref, attached === 0, `stopped with ${attached} EBS volume(s)`);
      else out.check('ec2.instance_stopped_volumes', ref, true, state);
      if (state === 'running') {
        const avg = s.cpu[id];
        if (avg === undefined) {
          out.add('ec2.instance_idle', ref, 'WARNING', `no CPUUtilization data in CloudWatch for the last ${CPU_WINDOW_DAYS} days`);
          out.add('ec2.instance_cpu_saturated', ref, 'WARNING', `no CPUUtilization data in CloudWatch for the last ${CPU_WINDOW_DAYS} days`);
        } else {
          const text = `average CPU ${avg.toFixed(1)}% over ${CPU_WINDOW_DAYS} days`;
          out.check('ec2.instance_idle', ref, avg >= IDLE_CPU_PERCENT, text);
          out.check('ec2.instance_cpu_saturated', ref, avg <= SATURATED_CPU_PERCENT, text);
        }
      }
    }

    for (const v of s.volumes) {
      const id = v.VolumeId ?? '?';
      const ref: ResourceRef = { uid: arn('volume', id), type: 'AWS::EC2::Volume', name: nameTag(v.Tags) ?? id, region, ...tagsOf(v.Tags) };
      out.check('ec2.volume_encrypted', ref, v.Encrypted === true, v.Encrypted ? 'encrypted' : 'not encrypted');
      const attachedTo = (v.Attachments ?? []).map((a) => a.InstanceId).filter(Boolean);
      out.check('ec2.volume_unattached', ref, v.State !== 'available', v.State === 'available' ? `available (attached to nothing), ${v.Size ?? '?'} GiB` : `attached to ${attachedTo.join(', ') || v.State}`);
    }

    const regionRef: ResourceRef = { uid: `arn:${target.partition}:ec2:${region}:${target.accountId}:ebs-default-encryption`, type: 'AWS::EC2::Region', name: region, region };
    const ebs = s.ebsEncryptionByDefault;
    if (ebs.ok) out.check('ec2.ebs_encryption_by_default', regionRef, ebs.value, ebs.value ? 'on' : 'off');
    else out.unreadable('ec2.ebs_encryption_by_default', regionRef, 'the EBS default encryption setting', ebs.missing ? 'not found' : ebs.code);

    for (const a of s.addresses) {
      const id = a.AllocationId ?? a.PublicIp ?? '?';
      const ref: ResourceRef = { uid: arn('elastic-ip', id), type: 'AWS::EC2::EIP', name: a.PublicIp ?? id, region };
      const associated = Boolean(a.AssociationId ?? a.InstanceId ?? a.NetworkInterfaceId);
      out.check('ec2.eip_associated', ref, associated, associated ? `associated with ${a.InstanceId ?? a.NetworkInterfaceId ?? a.AssociationId}` : 'not associated');
    }

    for (const img of s.images) {
      const id = img.ImageId ?? '?';
      const ref: ResourceRef = { uid: `arn:${target.partition}:ec2:${region}::image/${id}`, type: 'AWS::EC2::Image', name: img.Name ?? id, region };
      out.check('ec2.ami_private', ref, img.Public !== true, img.Public ? 'public' : 'private');
    }
    return out.done();
  },
};

function fromWorld(p: IpPermission): boolean {
  const world: readonly string[] = WORLD;
  return (p.IpRanges ?? []).some((r) => world.includes(r.CidrIp ?? '')) || (p.Ipv6Ranges ?? []).some((r) => world.includes(r.CidrIpv6 ?? ''));
}

function describeRule(p: IpPermission): string {
  if (p.IpProtocol === '-1') return 'all traffic';
  return p.FromPort === p.ToPort ? `${p.IpProtocol}/${p.FromPort}` : `${p.IpProtocol}/${p.FromPort}-${p.ToPort}`;
}
