/**
 * Names of everything the NATS engine keeps in JetStream (see the layout in engine.ts).
 *
 * Topic and group names may hold '.', which JetStream stream names forbid and which would split a
 * subject or KV key into extra tokens: it is written as '=' (never in a topic or group name), so
 * the mapping is one-to-one.
 */

/** Prefixes of JetStream names: environments sharing a server use different ones. */
export const PREFIX_PATTERN = /^[A-Za-z0-9_-]{0,32}$/;

export function encodeName(name: string): string {
  return name.replaceAll('.', '=');
}

/** The JetStream stream holding one partition of a topic. */
export function partitionStream(prefix: string, topic: string, partition: number): string {
  return `${prefix}${encodeName(topic)}-${partition}`;
}

/** The one subject of that stream. */
export function partitionSubject(prefix: string, topic: string, partition: number): string {
  return `${prefix}${encodeName(topic)}.${partition}`;
}

export interface BucketNames {
  /** Topic configs: key `<topic>`. */
  topics: string;
  /** Committed offsets: key `<topic>.<group>.<partition>`. */
  offsets: string;
  /** Group membership leases: key `<topic>.<group>.<coordinator id>`. */
  members: string;
}

export function bucketNames(prefix: string): BucketNames {
  return { topics: `${prefix}topics`, offsets: `${prefix}offsets`, members: `${prefix}members` };
}

export function topicKey(topic: string): string {
  return encodeName(topic);
}

export function offsetKey(topic: string, group: string, partition: number): string {
  return `${encodeName(topic)}.${encodeName(group)}.${partition}`;
}

export function memberKey(topic: string, group: string, coordinatorId: string): string {
  return `${encodeName(topic)}.${encodeName(group)}.${coordinatorId}`;
}

/** Splits an offsets or members key back into its topic, group and last token. */
export function splitKey(key: string): { topic: string; group: string; last: string } | null {
  const parts = key.split('.');
  if (parts.length !== 3) return null;
  const decode = (s: string): string => s.replaceAll('=', '.');
  return { topic: decode(parts[0]!), group: decode(parts[1]!), last: parts[2]! };
}
