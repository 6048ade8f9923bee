import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { streamErrors } from '../../errors.js';
import type { Consumer, ConsumerOptions, Position, ReadOptions, StreamRecord } from '../../types.js';
import { writeFileAtomic } from './atomic-file.js';
import type { Topic } from './topic.js';

/** Contents of DIR/<topic>/groups/<group>.json. */
interface GroupFile {
  group: string;
  topic: string;
  /** Partition → next offset to read. */
  offsets: Record<string, number>;
  updatedAt: string;
}

export const GROUP_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * A consumer group of one topic: its committed offsets (durable, one JSON file written
 * atomically) and its members in this process. Partitions are dealt round-robin over the members
 * in join order (partition p → member p mod n) and dealt again when a member joins or leaves; a
 * member taking a partition over starts from the committed offset, so what the previous owner
 * read but did not commit is delivered again (at least once).
 */
export class ConsumerGroup {
  readonly committed = new Map<number, number>();
  private members: GroupMember[] = [];

  /** True while a member of this process is in the group. */
  get hasMembers(): boolean {
    return this.members.length > 0;
  }
  private writes: Promise<void> = Promise.resolve();

  constructor(
    readonly topic: Topic,
    readonly name: string,
  ) {}

  get path(): string {
    return join(this.topic.dir, 'groups', `${this.name}.json`);
  }

  static async load(topic: Topic, name: string): Promise<ConsumerGroup> {
    const group = new ConsumerGroup(topic, name);
    const file = JSON.parse(await fsp.readFile(group.path, 'utf8')) as GroupFile;
    for (const [p, offset] of Object.entries(file.offsets)) {
      const partition = Number(p);
      if (partition < topic.config.partitions) group.committed.set(partition, offset);
    }
    return group;
  }

  join(opts: ConsumerOptions, isEngineClosed: () => boolean): GroupMember {
    const member = new GroupMember(this, opts.from ?? 'earliest', isEngineClosed);
    this.members.push(member);
    this.rebalance();
    return member;
  }

  leave(member: GroupMember): void {
    this.members = this.members.filter((m) => m !== member);
    this.rebalance();
  }

  private rebalance(): void {
    const n = this.members.length;
    if (n === 0) return;
    const shares: number[][] = this.members.map(() => []);
    for (let p = 0; p < this.topic.config.partitions; p++) shares[p % n]!.push(p);
    this.members.forEach((m, i) => m.assign(shares[i]!));
    this.topic.notify();
  }

  /** Where a member taking partition `p` over starts reading. */
  startFor(p: number, from: 'earliest' | 'latest'): number {
    const log = this.topic.logs[p]!;
    const committed = this.committed.get(p);
    if (committed !== undefined) return Math.max(committed, log.startOffset);
    return from === 'latest' ? log.durableEnd : log.startOffset;
  }

  async commit(member: GroupMember, positions: Position[]): Promise<void> {
    for (const { partition, offset } of positions) {
      if (!Number.isInteger(partition) || partition < 0 || partition >= this.topic.config.partitions) {
        throw streamErrors.STRATA_ERR_STREAM_BAD_PARTITION({ topic: this.topic.name, partition });
      }
      if (!member.owns(partition)) {
        throw streamErrors.STRATA_ERR_STREAM_NOT_ASSIGNED({ topic: this.topic.name, partition, group: this.name });
      }
      if (!Number.isInteger(offset) || offset < 0) {
        throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'offset', reason: `${offset} is not an offset` });
      }
    }
    for (const { partition, offset } of positions) {
      this.committed.set(partition, Math.min(offset, this.topic.logs[partition]!.durableEnd));
    }
    await this.persist();
  }

  /**
   * Retention deleted records this group had not committed past: its committed offset moves to
   * the new start. Returns how many records it lost.
   */
  async skipTo(p: number, startOffset: number): Promise<number> {
    const committed = this.committed.get(p);
    if (committed === undefined || committed >= startOffset) return 0;
    this.committed.set(p, startOffset);
    await this.persist();
    return startOffset - committed;
  }

  /** Writes the committed offsets; writes are chained so the file always ends with the latest. */
  private persist(): Promise<void> {
    const write = async (): Promise<void> => {
      const offsets: Record<string, number> = {};
      for (const [p, o] of [...this.committed].sort((a, b) => a[0] - b[0])) offsets[String(p)] = o;
      const file: GroupFile = { group: this.name, topic: this.topic.name, offsets, updatedAt: new Date(this.topic.env.now()).toISOString() };
      await writeFileAtomic(this.path, `${JSON.stringify(file)}\n`);
    };
    const next = this.writes.then(write, write);
    this.writes = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    for (const m of [...this.members]) m.detach();
    this.members = [];
    await this.writes;
  }
}

/** One member of a consumer group (the `Consumer` handed to callers). */
export class GroupMember implements Consumer {
  readonly topic: string;
  readonly group: string;
  private positions = new Map<number, number>();
  private closed = false;
  private rotation = 0;

  constructor(
    private readonly g: ConsumerGroup,
    private readonly from: 'earliest' | 'latest',
    private readonly isEngineClosed: () => boolean,
  ) {
    this.topic = g.topic.name;
    this.group = g.name;
  }

  /** Takes a new share of partitions, keeping read positions of the partitions it keeps. */
  assign(partitions: number[]): void {
    const next = new Map<number, number>();
    for (const p of partitions) next.set(p, this.positions.get(p) ?? this.g.startFor(p, this.from));
    this.positions = next;
  }

  owns(partition: number): boolean {
    return !this.closed && this.positions.has(partition);
  }

  assignment(): number[] {
    return [...this.positions.keys()].sort((a, b) => a - b);
  }

  private checkOpen(): void {
    if (this.closed || this.isEngineClosed()) throw streamErrors.STRATA_ERR_STREAM_CLOSED();
  }

  async read(opts: ReadOptions = {}): Promise<StreamRecord[]> {
    this.checkOpen();
    const max = opts.maxRecords ?? 1000;
    const deadline = Date.now() + (opts.maxWaitMs ?? 1000);
    const topic = this.g.topic;
    for (;;) {
      const version = topic.version;
      const out = await this.collect(max);
      if (out.length > 0 || this.closed || this.isEngineClosed()) return out;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return out;
      await topic.waitForData(version, remaining);
    }
  }

  /** Reads owned partitions in turn (starting one further each call, for fairness). */
  private async collect(max: number): Promise<StreamRecord[]> {
    const topic = this.g.topic;
    const owned = this.assignment();
    const out: StreamRecord[] = [];
    this.rotation = (this.rotation + 1) % Math.max(owned.length, 1);
    for (let k = 0; k < owned.length && out.length < max; k++) {
      const p = owned[(this.rotation + k) % owned.length]!;
      const log = topic.logs[p]!;
      let pos = this.positions.get(p);
      if (pos === undefined) continue;
      if (pos < log.startOffset) {
        topic.env.logger.warn(
          { topic: topic.name, group: this.group, partition: p, lost: log.startOffset - pos },
          'retention deleted records this consumer had not read',
        );
        pos = log.startOffset;
        this.positions.set(p, pos);
      }
      if (pos >= log.durableEnd) continue;
      const records = await log.read(pos, max - out.length);
      // The partition may have moved to another member during the read.
      if (records.length === 0 || this.positions.get(p) !== pos) continue;
      this.positions.set(p, records[records.length - 1]!.offset + 1);
      for (const r of records) out.push(r);
    }
    return out;
  }

  async commit(positions: Position[]): Promise<void> {
    this.checkOpen();
    await this.g.commit(this, positions);
  }

  seek(position: Position): void {
    this.checkOpen();
    if (!this.positions.has(position.partition)) {
      throw streamErrors.STRATA_ERR_STREAM_NOT_ASSIGNED({ topic: this.topic, partition: position.partition, group: this.group });
    }
    this.positions.set(position.partition, Math.max(0, Math.floor(position.offset)));
    this.g.topic.notify();
  }

  async seekToTime(timeMs: number): Promise<void> {
    this.checkOpen();
    for (const p of this.assignment()) this.positions.set(p, this.g.topic.logs[p]!.offsetForTime(timeMs));
    this.g.topic.notify();
  }

  /** Leaves the group without committing: its partitions go to the others from the committed offsets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.positions = new Map();
    this.g.leave(this);
    this.g.topic.notify();
  }

  /** Engine shutdown: stops without rebalancing. */
  detach(): void {
    this.closed = true;
    this.positions = new Map();
  }
}
