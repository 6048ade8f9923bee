/** VPC: default VPC use, flow logs, Availability Zone spread, network ACLs, subnets' public-IP default. */
import {
  EC2Client,
  paginateDescribeFlowLogs,
  paginateDescribeNetworkAcls,
  paginateDescribeNetworkInterfaces,
  paginateDescribeSubnets,
  paginateDescribeVpcs,
  type FlowLog,
  type NetworkAcl,
  type Subnet,
  type Vpc,
} from '@aws-sdk/client-ec2';
import type { ResourceRef } from '../types.js';
import { ADMIN_PORTS, coversTcpPort, WORLD } from './network.js';
import { nameTag, Results, tagsOf, type ServiceScanner } from './service.js';

export interface VpcSnapshot {
  vpcs: Vpc[];
  subnets: Subnet[];
  flowLogs: FlowLog[];
  networkAcls: NetworkAcl[];
  /** Network interfaces per default VPC id: what "in use" means. */
  defaultVpcInterfaces: Record<string, number>;
}


export const vpcScanner: ServiceScanner<VpcSnapshot> = {
  service: 'vpc',
  scope: 'regional',
  checks: ['vpc.default_vpc_unused', 'vpc.flow_logs', 'vpc.multi_az', 'vpc.nacl_admin_ports_open', 'vpc.subnet_no_auto_public_ip'],

  async collect({ conn, region }) {
    const ec2 = conn.client('ec2', region, (c) => new EC2Client(c));
    const vpcs: Vpc[] = [];
    for await (const page of paginateDescribeVpcs({ client: ec2, pageSize: 1000 }, {})) vpcs.push(...(page.Vpcs ?? []));
    const subnets: Subnet[] = [];
    for await (const page of paginateDescribeSubnets({ client: ec2, pageSize: 1000 }, {})) subnets.push(...(page.Subnets ?? []));
    const flowLogs: FlowLog[] = [];
    for await (const page of paginateDescribeFlowLogs({ client: ec2, pageSize: 1000 }, {})) flowLogs.push(...(page.FlowLogs ?? []));
    const networkAcls: NetworkAcl[] = [];
    for await (const page of paginateDescribeNetworkAcls({ client: ec2, pageSize: 1000 }, {})) networkAcls.push(...(page.NetworkAcls ?? []));
    const defaultVpcInterfaces: Record<string, number> = {};
    for (const v of vpcs.filter((v) => v.IsDefault && v.VpcId)) {
      let n = 0;
      for await (const page of paginateDescribeNetworkInterfaces({ client: ec2, pageSize: 1000 }, { Filters: [{ Name: 'vpc-id', Values: [v.VpcId!] }] })) n += page.NetworkInterfaces?.length ?? 0;
      defaultVpcInterfaces[v.VpcId!] = n;
    }
    return { vpcs, subnets, flowLogs, networkAcls, defaultVpcInterfaces };
  },

  evaluate(s, { region, target }) {
    const out = new Results();
    const arn = (kind: string, id: string) => `arn:${target.partition}:ec2:${region}:${target.accountId}:${kind}/${id}`;
    const logged = new Set(s.flowLogs.filter((f) => f.FlowLogStatus !== 'INACTIVE').map((f) => f.ResourceId));
    for (const v of s.vpcs) {
      const id = v.VpcId ?? '?';
      const ref: ResourceRef = { uid: arn('vpc', id), type: 'AWS::EC2::VPC', name: nameTag(v.Tags) ?? id, region, ...tagsOf(v.Tags) };
      if (v.IsDefault) {
        const n = s.defaultVpcInterfaces[id] ?? 0;
        out.check('vpc.default_vpc_unused', ref, n === 0, `default VPC with ${n} network interface(s)`);
      }
      out.check('vpc.flow_logs', ref, logged.has(id), logged.has(id) ? 'flow logs on' : 'no flow log');
      const zones = new Set(s.subnets.filter((sn) => sn.VpcId === id).map((sn) => sn.AvailabilityZone));
      out.check('vpc.multi_az', ref, zones.size >= 2, `subnets in ${zones.size} Availability Zone(s)`);
    }
    for (const acl of s.networkAcls) {
      const id = acl.NetworkAclId ?? '?';
      const ref: ResourceRef = { uid: arn('network-acl', id), type: 'AWS::EC2::NetworkAcl', name: nameTag(acl.Tags) ?? id, region, ...tagsOf(acl.Tags) };
      // Entries apply lowest rule number first, IPv4 and IPv6 traffic each against its own entries: a
      // port is open when, in either family, the first world entry covering it allows it.
      const ingress = (acl.Entries ?? []).filter((e) => !e.Egress).sort((a, b) => (a.RuleNumber ?? 0) - (b.RuleNumber ?? 0));
      const open = ADMIN_PORTS.filter((port) =>
        WORLD.some((world) => ingress.find((e) => (e.CidrBlock ?? e.Ipv6CidrBlock) === world && coversTcpPort(e.Protocol, e.PortRange?.From, e.PortRange?.To, port))?.RuleAction === 'allow'),
      );
      out.check('vpc.nacl_admin_ports_open', ref, open.length === 0, open.length === 0 ? 'ports 22 and 3389 not allowed from the world' : `allowed from the world: ${open.join(', ')}`);
    }
    for (const sn of s.subnets) {
      const id = sn.SubnetId ?? '?';
      const ref: ResourceRef = { uid: sn.SubnetArn ?? arn('subnet', id), type: 'AWS::EC2::Subnet', name: nameTag(sn.Tags) ?? id, region, ...tagsOf(sn.Tags) };
      out.check('vpc.subnet_no_auto_public_ip', ref, sn.MapPublicIpOnLaunch !== true, `MapPublicIpOnLaunch ${sn.MapPublicIpOnLaunch === true}`);
    }
    return out.done();
  },
};
