/** What the security group and network ACL checks call admin access from the world. */

/** SSH and RDP, over TCP (CIS AWS Foundations 5.1–5.3). */
export const ADMIN_PORTS = [22, 3389] as const;
/** Every IPv4 address, and every IPv6 address: each address family is judged on its own. */
export const WORLD = ['0.0.0.0/0', '::/0'] as const;

/**
 * Whether a rule's protocol and port range let TCP reach `port`. EC2 reports protocols as names
 * (security groups: `tcp`) or numbers (network ACLs: `6`); `-1` is every protocol and port, and a
 * missing range is every port.
 */
export function coversTcpPort(protocol: string | undefined, from: number | undefined, to: number | undefined, port: number): boolean {
  if (protocol === '-1') return true;
  if (protocol !== 'tcp' && protocol !== '6') return false;
  return (from ?? 0) <= port && port <= (to ?? 65535);
}
