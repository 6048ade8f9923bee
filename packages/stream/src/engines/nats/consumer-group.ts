/**
 * Consumer groups of the NATS engine, across processes.
 *
 * Committed offsets: offsets bucket, key `<topic>.<group>.<partition>`, value the offset as text;
 * a commit is a compare-and-set on the revision this member last read or wrote (a JetStream
 * publish, durable and replicated once acknowledged). So a member that lost a partition without
 * knowing it yet cannot commit over its new owner: once the new owner committed, the old one's
 * commit fails with STRATA_ERR_STREAM_NOT_ASSIGNED, and its cursor starts over from the
 * committed offset (in case the partition is, or becomes, this member's again).
 *
 * Membership: every process with members of a group runs one `GroupCoordinator`, which holds a
 * lease in the members bucket, key `<topic>.<group>.<coordinator id>`, value JSON
 * `{members, leaseMs, host, pid}`, put again every leaseMs/3 (the heartbeat). Each coordinator
 * watches the group's keys and computes the same assignment from the same view
 * (`assignPartitions`): a join or a clean leave (the key is deleted) moves partitions as soon as
 * the others see the change. A coordinator whose key was not put again within its lease (seen
 * from the watcher's clock) is presumed dead: one survivor deletes its key, compare-and-set on
 * the revision last seen (so a live member's new heartbeat wins), and everyone rebalances.
 * A coordinator that could not renew its own lease for leaseMs (measured from when the last
 * successful heartbeat was sent, so before anyone else may declare it dead) gives up all its
 * partitions until it renews.
 *
 * Handover: a member taking a partition starts at the committed offset read from the bucket
 * then (or per `from` when the group never committed there), so records read but not committed
 * are delivered again (at least once). While a change propagates (milliseconds through the
 * watcher; up to the lease for a crash) two members may read the same partition: duplicates,
 * never loss, since a commit only ever records what some member processed.
 */
import { hostname } from 'node:os';
import { nuid, type QueuedIterator } from '@nats-io/transport-node';
import { KvWatchInclude, type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import type { Logger } from '@strata/core';
import { streamErrors } from '../../errors.js';
import type { Consumer, Position, ReadOptions, StreamRecord } from '../../types.js';
import { assignPartitions, type CoordinatorView } from './assignment.js';
import { PartitionFetcher, type FetcherEnv } from './fetcher.js';
import { encodeName, memberKey, offsetKey, partitionStream, splitKey } from './names.js';

export const GROUP_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Longest wait of one pull on the server; a longer long poll pulls again. */
const MAX_PULL_WAIT_MS = 5_000;
/** Pause before a partition whose last pull failed is tried again. */
const RETRY_MS = 250;

export interface GroupEnv {
  fetcher: FetcherEnv;
  members: KV;
  offsets: KV;
  logger: Logger;
  prefix: string;
  leaseMs: number;
  readBatch: number;
  /** Offset the next record appended to the partition will get. */
  endOffset(topic: string, partition: number): Promise<number>;
  offsetForTime(topic: string, partition: number, timeMs: number): Promise<number>;
  isEngineClosed(): boolean;
}

interface MemberEntry {
  members: number;
  leaseMs: number;
  host?: string;
  pid?: number;
}

interface Remote {
  members: number;
  leaseMs: number;
  revision: number;
  /** Local time the current revision was first seen. */
  seenAt: number;
}

const noop = (): void => undefined;

/** This process's share of one consumer group of one topic. */
export class GroupCoordinator {
  readonly id = nuid.next();
  private members: GroupMember[] = [];
  private readonly remotes = new Map<string, Remote>();
  /** Revisions of keys seen deleted, so an older snapshot entry cannot bring a member back. */
  private readonly deleted = new Map<string, number>();
  private leaseUntil = 0;
  private active = false;
  private watcher: QueuedIterator<KvWatchEntry> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private renewFailing = false;

  constructor(
    private readonly env: GroupEnv,
    readonly topic: string,
    readonly partitions: number,
    readonly group: string,
  ) {}

  private get key(): string {
    return memberKey(this.topic, this.group, this.id);
  }

  leaseValid(): boolean {
    return Date.now() < this.leaseUntil;
  }

  /** Runs lifecycle steps (start, heartbeats, stop) one at a time, in call order. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn, fn);
    this.chain = run.then(noop, noop);
    return run;
  }

  async join(member: GroupMember): Promise<void> {
    this.members.push(member);
    try {
      await this.serial(async () => {
        if (this.active) await this.heartbeat();
        else await this.start();
      });
    } catch (err) {
      this.members = this.members.filter((m) => m !== member);
      this.rebalance();
      throw streamErrors.STRATA_ERR_STREAM_IO({ topic: this.topic, partition: '*', reason: `cannot join group ${this.group}: ${message(err)}` }, err);
    }
    this.rebalance();
    await member.ready();
  }

  async leave(member: GroupMember): Promise<void> {
    this.members = this.members.filter((m) => m !== member);
    this.rebalance();
    await this.serial(async () => {
      if (!this.active) return;
      if (this.members.length === 0) await this.stop();
      else await this.heartbeat().catch((err: unknown) => this.env.logger.warn({ topic: this.topic, group: this.group, err: message(err) }, 'consumer group heartbeat failed'));
    });
  }

  /** Engine shutdown: members stop without handing partitions over locally; the lease is released. */
  async close(): Promise<void> {
    for (const m of this.members) m.detach();
    this.members = [];
    await this.serial(async () => {
      if (this.active) await this.stop();
    });
  }

  private async start(): Promise<void> {
    const filter = `${encodeName(this.topic)}.${encodeName(this.group)}.*`;
    // Updates first, then the snapshot: nothing falls between the two (entries merge by revision).
    const watcher = await this.env.members.watch({ key: filter, include: KvWatchInclude.UpdatesOnly });
    this.watcher = watcher;
    void (async () => {
      for await (const e of watcher) this.onEntry(e, Date.now());
    })().catch((err: unknown) => this.env.logger.warn({ topic: this.topic, group: this.group, err: message(err) }, 'consumer group watcher stopped'));
    try {
      const keys: string[] = [];
      for await (const k of await this.env.members.keys(filter)) keys.push(k);
      const entries = await Promise.all(keys.map((k) => this.env.members.get(k)));
      const now = Date.now();
      for (const e of entries) if (e) this.onEntry(e, Math.min(now, e.created.getTime()));
      await this.heartbeat();
    } catch (err) {
      watcher.stop();
      this.watcher = null;
      throw err;
    }
    this.active = true;
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.env.leaseMs / 3)));
    this.timer.unref();
  }

  private async stop(): Promise<void> {
    this.active = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watcher?.stop();
    this.watcher = null;
    this.remotes.clear();
    this.leaseUntil = 0;
    await this.env.members.delete(this.key).catch((err: unknown) => this.env.logger.warn({ topic: this.topic, group: this.group, err: message(err) }, 'could not release consumer group lease (it expires on its own)'));
  }

  private async heartbeat(): Promise<void> {
    const sentAt = Date.now();
    const entry: MemberEntry = { members: this.members.length, leaseMs: this.env.leaseMs, host: hostname(), pid: process.pid };
    await this.env.members.put(this.key, JSON.stringify(entry));
    const regained = !this.leaseValid();
    this.leaseUntil = sentAt + this.env.leaseMs;
    if (this.renewFailing) this.env.logger.info({ topic: this.topic, group: this.group }, 'consumer group lease renewed');
    this.renewFailing = false;
    if (regained && this.active) this.rebalance();
  }

  private async tick(): Promise<void> {
    if (!this.active) return;
    await this.serial(async () => {
      if (!this.active) return;
      const wasValid = this.leaseValid();
      try {
        await this.heartbeat();
      } catch (err) {
        if (!this.renewFailing) this.env.logger.warn({ topic: this.topic, group: this.group, err: message(err) }, 'consumer group lease renewal failed');
        this.renewFailing = true;
        if (wasValid && !this.leaseValid()) {
          this.env.logger.warn({ topic: this.topic, group: this.group }, 'consumer group lease lost; giving up partitions until it is renewed');
          this.rebalance();
        }
      }
    });
    await this.expireRemotes();
  }

  /** Declares remote coordinators dead whose lease ran out without a new heartbeat. */
  private async expireRemotes(): Promise<void> {
    // Without our own lease we are the one likely cut off: judge nobody.
    if (!this.leaseValid()) return;
    const now = Date.now();
    for (const [id, r] of [...this.remotes]) {
      if (now - r.seenAt <= r.leaseMs) continue;
      const key = memberKey(this.topic, this.group, id);
      try {
        await this.env.members.delete(key, { previousSeq: r.revision });
        if (this.remotes.get(id) === r) this.remotes.delete(id);
        this.env.logger.warn({ topic: this.topic, group: this.group, member: id, leaseMs: r.leaseMs }, 'consumer group member missed its lease; taking its partitions over');
        this.rebalance();
      } catch {
        // A newer revision (alive after all, or deleted by someone else), or the bucket is unreachable.
        const e = await this.env.members.get(key).catch(() => undefined);
        if (e === undefined) continue;
        if (e === null) {
          this.remotes.delete(id);
          this.rebalance();
        } else this.onEntry(e, Date.now());
      }
    }
  }

  private onEntry(e: KvEntry, seenAt: number): void {
    const id = splitKey(e.key)?.last;
    if (!id || id === this.id) return;
    const known = this.remotes.get(id);
    if ((known && known.revision >= e.revision) || (this.deleted.get(id) ?? 0) >= e.revision) return;
    if (e.operation !== 'PUT') {
      this.deleted.set(id, e.revision);
      if (known) {
        this.remotes.delete(id);
        this.rebalance();
      }
      return;
    }
    let v: MemberEntry;
    try {
      v = e.json<MemberEntry>();
    } catch {
      return;
    }
    this.remotes.set(id, { members: v.members, leaseMs: v.leaseMs, revision: e.revision, seenAt });
    if (!known || known.members !== v.members) this.rebalance();
  }

  /** Deals the partitions again and hands each local member its share. */
  rebalance(): void {
    const valid = this.leaseValid();
    const views: CoordinatorView[] = [{ id: this.id, members: valid ? this.members.length : 0 }];
    for (const [id, r] of this.remotes) views.push({ id, members: r.members });
    const shares = valid ? assignPartitions(this.partitions, views, this.id) : [];
    this.members.forEach((m, i) => m.assign(shares[i] ?? []));
  }
}

interface Cursor {
  /** Next offset to deliver; null until the committed offset (or `from`) is known. */
  position: number | null;
  resolving: Promise<void> | null;
  fetcher: PartitionFetcher | null;
  /** The start came from `from` (no commit): records missing before the first one are not "lost". */
  quietGap: boolean;
  failedAt: number;
  error: Error | null;
  /** Revision of the committed offset this member last read or wrote (0: none): commits compare-and-set on it. */
  revision: number;
  /** The commit in progress on this partition: commits of one member go one after another. */
  committing: Promise<void>;
}

/** One member of a consumer group (the `Consumer` handed to callers). */
export class GroupMember implements Consumer {
  readonly topic: string;
  readonly group: string;
  private readonly cursors = new Map<number, Cursor>();
  private closed = false;
  private rotation = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly env: GroupEnv,
    private readonly coordinator: GroupCoordinator,
    private readonly from: 'earliest' | 'latest',
  ) {
    this.topic = coordinator.topic;
    this.group = coordinator.group;
  }

  /** Takes a new share of partitions, keeping the read positions of the partitions it keeps. */
  assign(partitions: number[]): void {
    if (this.closed) return;
    const keep = new Set(partitions);
    for (const [p, c] of this.cursors) {
      if (keep.has(p)) continue;
      c.fetcher?.close();
      this.cursors.delete(p);
    }
    for (const p of partitions) if (!this.cursors.has(p)) this.startCursor(p);
    this.notify();
  }

  /** A fresh cursor for `p`, at the committed offset (and its revision) once resolved. */
  private startCursor(p: number): void {
    this.cursors.get(p)?.fetcher?.close();
    const c: Cursor = { position: null, resolving: null, fetcher: null, quietGap: false, failedAt: 0, error: null, revision: 0, committing: Promise.resolve() };
    this.cursors.set(p, c);
    c.resolving = this.resolve(p, c);
  }

  /** Resolves once the start positions of the current partitions are known (or failed). */
  async ready(): Promise<void> {
    await Promise.all([...this.cursors.values()].map((c) => c.resolving));
  }

  /** The committed offset, or the start `from` says. */
  private async resolve(p: number, c: Cursor): Promise<void> {
    try {
      const entry = await this.env.offsets.get(offsetKey(this.topic, this.group, p));
      c.revision = entry?.revision ?? 0;
      let position: number;
      let quiet = false;
      if (entry && entry.operation === 'PUT') position = Number(entry.string());
      else if (this.from === 'latest') position = await this.env.endOffset(this.topic, p);
      else {
        position = 0;
        quiet = true;
      }
      if (this.cursors.get(p) === c && c.position === null) {
        c.position = position;
        c.quietGap = quiet;
        c.error = null;
      }
    } catch (err) {
      c.error = err instanceof Error ? err : new Error(String(err));
      c.failedAt = Date.now();
    } finally {
      c.resolving = null;
    }
  }

  assignment(): number[] {
    return this.closed ? [] : [...this.cursors.keys()].sort((a, b) => a - b);
  }

  private owns(partition: number): boolean {
    return !this.closed && this.cursors.has(partition) && this.coordinator.leaseValid();
  }

  private checkOpen(): void {
    if (this.closed || this.env.isEngineClosed()) throw streamErrors.STRATA_ERR_STREAM_CLOSED();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves at the next notify or after `ms`. */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  async read(opts: ReadOptions = {}): Promise<StreamRecord[]> {
    this.checkOpen();
    const max = opts.maxRecords ?? 1000;
    if (!Number.isInteger(max) || max < 1) throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'maxRecords', reason: 'must be a positive integer' });
    const deadline = Date.now() + Math.max(0, opts.maxWaitMs ?? 1000);
    for (;;) {
      const out = this.collect(max);
      if (out.length > 0) {
        this.prefetch();
        return out;
      }
      if (this.closed || this.env.isEngineClosed()) return [];
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        // Last look: what the server has now, for partitions without a pull waiting there already.
        await Promise.all([...this.cursors].filter(([, c]) => !c.fetcher?.pulling).map(([p, c]) => this.pump(p, c, 0)));
        let last = this.collect(max);
        if (last.length === 0 && this.cursors.size > 0) {
          // One round trip, so records the server already sent to waiting pulls have arrived.
          await this.env.fetcher.nc.flush().catch(() => undefined);
          last = this.collect(max);
        }
        if (last.length === 0) this.throwIfFailing();
        if (last.length > 0) this.prefetch();
        return last;
      }
      let backoff = false;
      for (const [p, c] of this.cursors) {
        if (Date.now() - c.failedAt < RETRY_MS) backoff = true;
        else void this.pump(p, c, Math.min(remaining, MAX_PULL_WAIT_MS));
      }
      await this.wait(backoff ? Math.min(remaining, RETRY_MS) : remaining);
    }
  }

  /** Makes sure partition `p` has its start position, a reader and a pull asking for records. */
  private async pump(p: number, c: Cursor, waitMs: number): Promise<void> {
    if (c.position === null) {
      c.resolving ??= this.resolve(p, c);
      await c.resolving;
      if (c.position === null) return;
    }
    if (this.cursors.get(p) !== c || this.closed) return;
    const fetcher = (c.fetcher ??= this.newFetcher(p, c, c.position));
    if (fetcher.buffered >= this.env.readBatch) return;
    await fetcher.fetch(this.env.readBatch, waitMs);
    if (fetcher.error) {
      c.error = fetcher.error;
      c.failedAt = Date.now();
    } else c.error = null;
  }

  private newFetcher(p: number, c: Cursor, position: number): PartitionFetcher {
    const stream = partitionStream(this.env.prefix, this.topic, p);
    return new PartitionFetcher(
      this.env.fetcher,
      stream,
      this.topic,
      p,
      position + 1,
      () => this.notify(),
      (from, to) => {
        if (c.quietGap) return;
        this.env.logger.warn({ topic: this.topic, group: this.group, partition: p, lost: to - from }, 'retention deleted records this consumer had not read');
      },
    );
  }

  /** Keeps a pull waiting on the server for partitions whose buffer runs low, so reads rarely wait. */
  private prefetch(): void {
    for (const [p, c] of this.cursors) {
      const f = c.fetcher;
      if (f && !f.pulling && f.buffered < this.env.readBatch / 2) void this.pump(p, c, MAX_PULL_WAIT_MS);
    }
  }

  /** Buffered records of owned partitions, taking partitions in turn (one further each call). */
  private collect(max: number): StreamRecord[] {
    const owned = this.assignment();
    const out: StreamRecord[] = [];
    if (owned.length === 0) return out;
    this.rotation = (this.rotation + 1) % owned.length;
    for (let k = 0; k < owned.length && out.length < max; k++) {
      const p = owned[(this.rotation + k) % owned.length]!;
      const c = this.cursors.get(p)!;
      const f = c.fetcher;
      if (c.position === null || !f) continue;
      const records = f.take(max - out.length);
      if (records.length > 0) {
        c.position = records[records.length - 1]!.offset + 1;
        c.quietGap = false;
        for (const r of records) out.push(r);
      } else if (f.corrupt && out.length === 0) {
        throw streamErrors.STRATA_ERR_STREAM_CORRUPT({ file: f.stream, position: `sequence ${f.corrupt.seq}`, reason: f.corrupt.reason });
      }
    }
    return out;
  }

  private throwIfFailing(): void {
    for (const [p, c] of this.cursors) {
      if (c.error) throw streamErrors.STRATA_ERR_STREAM_IO({ topic: this.topic, partition: p, reason: c.error.message }, c.error);
    }
  }

  async commit(positions: Position[]): Promise<void> {
    this.checkOpen();
    for (const { partition, offset } of positions) {
      if (!Number.isInteger(partition) || partition < 0 || partition >= this.coordinator.partitions) {
        throw streamErrors.STRATA_ERR_STREAM_BAD_PARTITION({ topic: this.topic, partition });
      }
      if (!this.owns(partition)) {
        throw streamErrors.STRATA_ERR_STREAM_NOT_ASSIGNED({ topic: this.topic, partition, group: this.group });
      }
      if (!Number.isInteger(offset) || offset < 0) {
        throw streamErrors.STRATA_ERR_STREAM_BAD_CONFIG({ option: 'offset', reason: `${offset} is not an offset` });
      }
    }
    await Promise.all(
      positions.map(({ partition, offset }) => {
        const c = this.cursors.get(partition)!;
        const next = c.committing.then(() => this.commitOne(c, partition, offset));
        c.committing = next.catch(() => undefined);
        return next;
      }),
    );
  }

  private async commitOne(c: Cursor, partition: number, offset: number): Promise<void> {
    await c.resolving; // the revision to compare against
    const key = offsetKey(this.topic, this.group, partition);
    try {
      // Never past the end (what a later append would get): clamp when beyond what was seen.
      const seen = Math.max(c.position ?? 0, c.fetcher ? c.fetcher.nextSeq - 1 : 0);
      const value = String(offset <= seen ? offset : Math.min(offset, await this.env.endOffset(this.topic, partition)));
      c.revision = c.revision ? await this.env.offsets.update(key, value, c.revision) : await this.env.offsets.create(key, value);
    } catch (err) {
      if (/wrong last sequence/i.test(message(err))) {
        // Someone else committed here since this member read the offset: the partition moved on.
        // Should it be this member's again (back from a long pause, say), it starts over from
        // that commit: keeping the stale revision would refuse every later commit.
        if (this.cursors.get(partition) === c) {
          this.startCursor(partition);
          this.notify();
        }
        throw streamErrors.STRATA_ERR_STREAM_NOT_ASSIGNED({ topic: this.topic, partition, group: this.group }, err);
      }
      throw streamErrors.STRATA_ERR_STREAM_IO({ topic: this.topic, partition, reason: `commit failed: ${message(err)}` }, err);
    }
  }

  seek(position: Position): void {
    this.checkOpen();
    const c = this.cursors.get(position.partition);
    if (!c) throw streamErrors.STRATA_ERR_STREAM_NOT_ASSIGNED({ topic: this.topic, partition: position.partition, group: this.group });
    this.moveTo(c, Math.max(0, Math.floor(position.offset)));
  }

  private moveTo(c: Cursor, offset: number): void {
    c.fetcher?.close();
    c.fetcher = null;
    c.position = offset;
    c.quietGap = false;
    this.notify();
  }

  async seekToTime(timeMs: number): Promise<void> {
    this.checkOpen();
    await Promise.all(
      this.assignment().map(async (p) => {
        const offset = await this.env.offsetForTime(this.topic, p, timeMs);
        const c = this.cursors.get(p);
        if (c) this.moveTo(c, offset);
      }),
    );
  }

  /** Leaves the group without committing: its partitions go to the others from the committed offsets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.detach();
    await this.coordinator.leave(this);
  }

  /** Stops reading (engine shutdown, or before leaving). */
  detach(): void {
    this.closed = true;
    for (const c of this.cursors.values()) c.fetcher?.close();
    this.cursors.clear();
    this.notify();
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
