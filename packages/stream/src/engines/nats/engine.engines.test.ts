import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger, startNats, type NatsServers } from '@strata/testkit';
import { describeStreamContract } from '../../contract/suite.js';
import { streamErrors } from '../../errors.js';
import type { AppendRecord, StreamRecord } from '../../types.js';
import { openNatsStream, type NatsStream, type NatsStreamOptions } from './engine.js';
import { partitionSubject } from './names.js';
import { consume, until } from './test-support.js';

let nats: NatsServers;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.close();
});

/** The contract's data directory names the environment: reopening with the same dir finds the same streams. */
const prefixFor = (dir: string): string => `t${createHash('sha256').update(dir).digest('hex').slice(0, 10)}_`;

describeStreamContract('nats', { open: (dir) => openNatsStream({ servers: nats.servers, prefix: prefixFor(dir) }) });

const fixture = fileURLToPath(new URL('./fixtures/group-member.ts', import.meta.url));
let prefixCounter = 0;
const uniquePrefix = (): string => `e${process.pid}x${++prefixCounter}_`;

function records(prefix: string, n: number, key = (i: number) => `device-${i % 7}`, valueBytes = 40): AppendRecord[] {
  return Array.from({ length: n }, (_, i) => ({ key: key(i), id: `${prefix}-${i}`, value: Buffer.from(`${prefix}-${i}:`.padEnd(valueBytes, 'x')) }));
}

const ids = (rs: StreamRecord[]): string[] => rs.map((r) => r.id ?? '').sort();

describe('nats stream engine', () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function open(opts: Partial<NatsStreamOptions> & { prefix: string }): Promise<NatsStream> {
    const s = await openNatsStream({ servers: nats.servers, ...opts });
    cleanups.push(() => s.close());
    return s;
  }

  it('keeps the topic config in JetStream: another process sees it, retention changes apply, the partition count never does', async () => {
    const prefix = uniquePrefix();
    const a = await open({ prefix });
    await a.ensureTopic('telemetry', { partitions: 3, retentionMs: 3_600_000 });
    const b = await open({ prefix });
    expect((await b.describe('telemetry')).config).toEqual({ partitions: 3, retentionMs: 3_600_000, retentionBytes: 10 * 1024 ** 3, dedupWindowMs: 120_000 });
    const changed = await b.ensureTopic('telemetry', { partitions: 6, retentionMs: 7_200_000, retentionBytes: 1024 ** 2, dedupWindowMs: 0 });
    expect(changed.config).toEqual({ partitions: 3, retentionMs: 7_200_000, retentionBytes: 1024 ** 2, dedupWindowMs: 0 });
    expect((await a.describe('telemetry')).config).toEqual(changed.config);
    // Dedup off: the same id twice is stored twice.
    expect(await a.append('telemetry', [{ key: 'k', id: 'same', value: Buffer.from('1') }])).toEqual({ appended: 1, duplicates: 0 });
    expect(await b.append('telemetry', [{ key: 'k', id: 'same', value: Buffer.from('2') }])).toEqual({ appended: 1, duplicates: 0 });
  });

  it('keeps topics and groups whose names differ only by a dot apart', async () => {
    const s = await open({ prefix: uniquePrefix() });
    await s.ensureTopic('a.b', { partitions: 1 });
    await s.ensureTopic('a-b', { partitions: 1 });
    await s.append('a.b', records('dot', 3));
    await s.append('a-b', records('dash', 2));
    expect(ids(await s.read('a.b', 0, 0))).toEqual(['dot-0', 'dot-1', 'dot-2']);
    expect(ids(await s.read('a-b', 0, 0))).toEqual(['dash-0', 'dash-1']);
    const dotted = await s.consumer({ topic: 'a.b', group: 'g.1' });
    await dotted.commit([{ partition: 0, offset: 2 }]);
    expect(await s.lag('a.b')).toEqual([{ group: 'g.1', topic: 'a.b', partitions: [{ partition: 0, committed: 2, endOffset: 3, lag: 1 }] }]);
    expect(await s.lag('a-b')).toEqual([]);
  });

  it('dedups across processes and reports duplicates of a retried append', async () => {
    const prefix = uniquePrefix();
    const a = await open({ prefix });
    const b = await open({ prefix });
    await a.ensureTopic('t', { partitions: 4 });
    const batch = records('r', 50);
    expect(await a.append('t', batch)).toEqual({ appended: 50, duplicates: 0 });
    expect(await b.append('t', [...batch.slice(0, 10), ...records('s', 5)])).toEqual({ appended: 5, duplicates: 10 });
    const info = await b.describe('t');
    expect(info.partitions.reduce((n, p) => n + p.endOffset, 0)).toBe(55);
  });

  it('shares a group between processes and hands a closed process\'s partitions over from its commits', async () => {
    const prefix = uniquePrefix();
    const p1 = await open({ prefix });
    const p2 = await open({ prefix });
    await p1.ensureTopic('shared', { partitions: 4 });
    await p1.append('shared', records('x', 80, (i) => `dev-${i}`));
    const a = await p1.consumer({ topic: 'shared', group: 'g' });
    const b = await p2.consumer({ topic: 'shared', group: 'g' });
    await until('a split of the partitions', () => a.assignment().length + b.assignment().length === 4 && a.assignment().length === 2);
    expect([...a.assignment(), ...b.assignment()].sort()).toEqual([0, 1, 2, 3]);
    const readA = await consume(a, 80);
    const readB = await consume(b, 80);
    expect(readA.length + readB.length).toBe(80);
    for (const r of readA) expect(a.assignment()).toContain(r.partition);
    for (const r of readB) expect(b.assignment()).toContain(r.partition);
    await expect(a.commit([{ partition: b.assignment()[0]!, offset: 1 }])).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_NOT_ASSIGNED.is);
    // b commits half of what it read, then its process closes.
    const half = b.assignment().map((p) => ({ partition: p, offset: Math.floor(readB.filter((r) => r.partition === p).length / 2) }));
    await b.commit(half);
    await p2.close();
    await until('a to own every partition', () => a.assignment().length === 4);
    const handed = await consume(a, 80);
    const expected = readB.filter((r) => r.offset >= half.find((h) => h.partition === r.partition)!.offset);
    expect(ids(handed)).toEqual(ids(expected));
  });

  it('fences a member that lost its partition: once the new owner committed, the old one cannot commit over it', async () => {
    const prefix = uniquePrefix();
    const s = await open({ prefix });
    await s.ensureTopic('t', { partitions: 1 });
    await s.append('t', records('f', 10, () => 'k'));
    const stale = await s.consumer({ topic: 't', group: 'g' });
    cleanups.push(() => stale.close());
    expect((await consume(stale, 10)).length).toBe(10);
    await stale.commit([{ partition: 0, offset: 4 }]);
    // The new owner's commit, written as that process would (this member has not seen the change yet).
    const nc = await connect({ servers: nats.servers });
    cleanups.push(() => nc.close());
    const kv = await new Kvm(nc).open(`${prefix}offsets`);
    await kv.put('t.g.0', '8');
    await expect(stale.commit([{ partition: 0, offset: 10 }])).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_NOT_ASSIGNED.is);
    expect((await kv.get('t.g.0'))?.string()).toBe('8');
    // Still its partition (nobody else is in the group): it starts over from that commit and can commit again.
    expect((await consume(stale, 2)).map((r) => r.offset)).toEqual([8, 9]);
    await stale.commit([{ partition: 0, offset: 10 }]);
    expect((await kv.get('t.g.0'))?.string()).toBe('10');
  });

  it('takes a crashed process\'s partitions over once its lease runs out', async () => {
    const prefix = uniquePrefix();
    const leaseMs = 1_500;
    const s = await open({ prefix, leaseMs });
    await s.ensureTopic('crash', { partitions: 4 });
    await s.append('crash', records('c', 40, (i) => `dev-${i}`));
    const a = await s.consumer({ topic: 'crash', group: 'g' });
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, nats.servers.join(','), prefix, 'crash', 'g', String(leaseMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    let childShare: number[] = [];
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.startsWith('ASSIGNED ')) childShare = line.slice(9).split(',').filter(Boolean).map(Number);
    });
    await until(`the child to take a share (${stderr})`, () => childShare.length === 2 && a.assignment().length === 2);
    const mine = await consume(a, 40);
    await a.commit([...new Set(mine.map((r) => r.partition))].map((p) => ({ partition: p, offset: Math.max(...mine.filter((r) => r.partition === p).map((r) => r.offset)) + 1 })));
    child.kill('SIGKILL');
    await exited;
    await until('a to own every partition', () => a.assignment().length === 4);
    // The child never committed: everything of its partitions comes to a.
    const handed = await consume(a, 40);
    expect(handed.length + mine.length).toBe(40);
    expect(new Set(handed.map((r) => r.partition))).toEqual(new Set(childShare));
  });

  it('refuses appends with STREAM_FULL over the size cap while a group has not read, and purges what every group committed', async () => {
    const prefix = uniquePrefix();
    const s = await open({ prefix });
    await s.ensureTopic('capped', { partitions: 1, retentionBytes: 20_000 });
    const c = await s.consumer({ topic: 'capped', group: 'reader' });
    let appended = 0;
    let err: unknown;
    for (let i = 0; i < 100 && !err; i++) {
      try {
        appended += (await s.append('capped', records(`b${i}`, 10, () => 'k', 200))).appended;
      } catch (e) {
        err = e;
      }
    }
    expect(streamErrors.STRATA_ERR_STREAM_FULL.is(err)).toBe(true);
    expect((err as Error).message).toMatch(/retention cap reached with unread data/);
    expect(s.health()).toEqual({ writable: false, reason: expect.stringMatching(/retention cap reached/) });
    const read = await consume(c, 1000);
    expect(read.map((r) => r.offset)).toEqual(Array.from({ length: read.length }, (_, i) => i));
    const held = (await s.describe('capped')).partitions[0]!.endOffset;
    expect(read.length).toBe(held);
    await c.commit([{ partition: 0, offset: held }]);
    // Room is made from what the group committed; nothing it has not read is dropped.
    expect(await s.append('capped', records('after', 10, () => 'k', 200))).toEqual({ appended: 10, duplicates: 0 });
    expect(s.health()).toEqual({ writable: true });
    const info = (await s.describe('capped')).partitions[0]!;
    expect(info.startOffset).toBeGreaterThan(0);
    expect(info.startOffset).toBeLessThanOrEqual(held);
    expect(ids(await consume(c, 10))).toEqual(records('after', 10).map((r) => r.id!).sort());
    // Every acknowledged record was kept (the refused call may have stored part of itself).
    expect(held).toBeGreaterThanOrEqual(appended);
  });

  it('serves no record a reader cannot decode (STRATA_ERR_STREAM_CORRUPT) and keeps offsets dense', async () => {
    const prefix = uniquePrefix();
    const s = await open({ prefix });
    await s.ensureTopic('mixed', { partitions: 1 });
    await s.append('mixed', records('ok', 2));
    const nc = await connect({ servers: nats.servers });
    await nc.request(partitionSubject(prefix, 'mixed', 0), 'not a strata record');
    await nc.close();
    expect((await s.read('mixed', 0, 0)).map((r) => r.offset)).toEqual([0, 1]);
    await expect(s.read('mixed', 0, 2)).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_CORRUPT.is);
  });

  it('refuses a topic whose size caps JetStream cannot reserve, and leaves nothing half-made', async () => {
    const small = await startNats({ maxFileStore: '64M' });
    cleanups.push(() => small.close());
    const s = await openNatsStream({ servers: small.servers, prefix: 'small_' });
    cleanups.push(() => s.close());
    await expect(s.ensureTopic('big', { partitions: 4, retentionBytes: 32 * 1024 ** 2 })).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_BAD_CONFIG.is);
    await expect(s.describe('big')).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_UNKNOWN_TOPIC.is);
    expect((await s.ensureTopic('big', { partitions: 4, retentionBytes: 8 * 1024 ** 2 })).partitions).toHaveLength(4);
  });

  it('reports not writable while the server is down, and a group resumes from its commits after a restart', async () => {
    const own = await startNats();
    cleanups.push(() => own.close());
    const logger = memoryLogger();
    const s = await openNatsStream({ servers: own.servers, prefix: 'restart_', leaseMs: 2_000, logger });
    cleanups.push(() => s.close());
    await s.ensureTopic('r', { partitions: 2 });
    await s.append('r', records('before', 40));
    const live = await s.consumer({ topic: 'r', group: 'live' });
    const first = await consume(live, 40);
    expect(first).toHaveLength(40);
    await live.commit([0, 1].map((p) => ({ partition: p, offset: Math.max(...first.filter((r) => r.partition === p).map((r) => r.offset)) + 1 })));
    const committedGroup = await s.consumer({ topic: 'r', group: 'half' });
    const got = await consume(committedGroup, 40);
    await committedGroup.commit([{ partition: 0, offset: 3 }, { partition: 1, offset: 3 }]);
    expect(got).toHaveLength(40);

    await own.stop();
    await until('health to report the outage', () => !s.health().writable);
    expect(s.health().reason).toMatch(/disconnected/);
    await expect(s.append('r', records('down', 1))).rejects.toSatisfy((e: unknown) => streamErrors.STRATA_ERR_STREAM_IO.is(e) && (e as { statusCode: number }).statusCode === 503);
    await own.start();
    await until('health to recover', () => s.health().writable);

    // Appends work again; the live member picks them up after its consumers were recreated.
    await until('an append to succeed', () => s.append('r', records('after', 10)).then(() => true, () => false));
    const more = await until('the live member to read the new records', async () => {
      const rs = await consume(live, 10, 300);
      return rs.length > 0 ? rs : null;
    });
    const rest = more.length < 10 ? await consume(live, 10 - more.length) : [];
    expect(ids([...more, ...rest])).toEqual(records('after', 10).map((r) => r.id!).sort());
    // A new process of group `half` starts at its commits: offsets 3.. of both partitions.
    await committedGroup.close();
    const other = await openNatsStream({ servers: own.servers, prefix: 'restart_' });
    cleanups.push(() => other.close());
    const resumed = await other.consumer({ topic: 'r', group: 'half' });
    const again = await consume(resumed, 50);
    for (const p of [0, 1]) expect(again.filter((r) => r.partition === p).map((r) => r.offset)[0]).toBe(3);
    expect(again).toHaveLength(40 + 10 - 6);
  });
});
