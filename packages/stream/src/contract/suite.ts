/**
 * The stream contract: what every engine (embedded, NATS JetStream, Kafka, Kinesis) must do, as
 * one vitest suite each engine's tests call with a factory. It uses only the public `Stream`
 * interface, unique topic names per test, and one directory per test (engines without a data
 * directory may ignore it, but must find their data again when `open` is called with the same
 * one after `close`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { streamErrors } from '../errors.js';
import { partitionFor } from '../partitioner.js';
import type { AppendRecord, Consumer, Stream, StreamRecord } from '../types.js';

export interface StreamFactory {
  open(dir: string): Promise<Stream>;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (r: StreamRecord): string => Buffer.from(r.value).toString('utf8');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let topicCounter = 0;
function topicName(label: string): string {
  return `contract-${label}-${process.pid}-${++topicCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

function rec(key: string, id: string, value = id, ts?: number): AppendRecord {
  return ts === undefined ? { key, id, value: bytes(value) } : { key, id, value: bytes(value), ts };
}

/** Every record of a topic, partition by partition, in offset order. */
async function readAll(stream: Stream, topic: string): Promise<StreamRecord[]> {
  const info = await stream.describe(topic);
  const out: StreamRecord[] = [];
  for (const p of info.partitions) {
    let offset = p.startOffset;
    for (;;) {
      const batch = await stream.read(topic, p.partition, offset, { maxRecords: 100 });
      if (batch.length === 0) break;
      out.push(...batch);
      offset = batch[batch.length - 1]!.offset + 1;
    }
  }
  return out;
}

/** Reads from a consumer until `n` records came or a read waited `waitMs` for nothing. */
async function consume(c: Consumer, n: number, waitMs = 300): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  while (out.length < n) {
    const batch = await c.read({ maxRecords: 50, maxWaitMs: waitMs });
    if (batch.length === 0) break;
    out.push(...batch);
  }
  return out;
}

/** The positions that commit everything in `records`. */
function positionsAfter(records: StreamRecord[]): { partition: number; offset: number }[] {
  const next = new Map<number, number>();
  for (const r of records) next.set(r.partition, Math.max(next.get(r.partition) ?? 0, r.offset + 1));
  return [...next].map(([partition, offset]) => ({ partition, offset }));
}

const ids = (records: StreamRecord[]): string[] => records.map((r) => r.id ?? '').sort();

export function describeStreamContract(engine: string, factory: StreamFactory): void {
  describe(`stream contract: ${engine}`, () => {
    const dirs: string[] = [];
    const open: Stream[] = [];

    async function openStream(dir?: string): Promise<{ stream: Stream; dir: string }> {
      const d = dir ?? mkdtempSync(join(tmpdir(), `strata-stream-${engine}-`));
      if (!dir) dirs.push(d);
      const stream = await factory.open(d);
      open.push(stream);
      return { stream, dir: d };
    }

    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => undefined);
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    });

    it('opens healthy, closes, and refuses work once closed', async () => {
      const { stream } = await openStream();
      expect(stream.engine).toBe(engine);
      expect(stream.health()).toEqual({ writable: true });
      const topic = topicName('close');
      await stream.ensureTopic(topic, { partitions: 2 });
      await stream.close();
      await stream.close();
      expect(stream.health().writable).toBe(false);
      await expect(stream.append(topic, [rec('k', 'a')])).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_CLOSED.is);
      await expect(stream.describe(topic)).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_CLOSED.is);
    });

    it('creates a topic once and keeps its partition count', async () => {
      const { stream } = await openStream();
      const topic = topicName('ensure');
      const [first, concurrent] = await Promise.all([
        stream.ensureTopic(topic, { partitions: 4 }),
        stream.ensureTopic(topic, { partitions: 4 }),
      ]);
      expect(concurrent.partitions).toHaveLength(4);
      const again = await stream.ensureTopic(topic, { partitions: 8 });
      expect(first.partitions).toHaveLength(4);
      expect(again.partitions).toHaveLength(4);
      const info = await stream.describe(topic);
      expect(info.name).toBe(topic);
      expect(info.config.partitions).toBe(4);
      expect(info.partitions.map((p) => [p.partition, p.startOffset, p.endOffset])).toEqual([
        [0, 0, 0],
        [1, 0, 0],
        [2, 0, 0],
        [3, 0, 0],
      ]);
    });

    it('rejects unknown topics, missing partitions and bad topic names', async () => {
      const { stream } = await openStream();
      const topic = topicName('errors');
      await stream.ensureTopic(topic, { partitions: 2 });
      await expect(stream.append(`${topic}-nope`, [rec('k', 'a')])).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_UNKNOWN_TOPIC.is);
      await expect(stream.read(topic, 2, 0)).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_BAD_PARTITION.is);
      await expect(stream.ensureTopic('Not A Topic!', { partitions: 1 })).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_BAD_TOPIC_NAME.is);
    });

    it('round-trips keys, ids, event times and values', async () => {
      const { stream } = await openStream();
      const topic = topicName('roundtrip');
      await stream.ensureTopic(topic, { partitions: 1 });
      const binary = new Uint8Array([0, 255, 1, 254, 10, 13]);
      const result = await stream.append(topic, [
        { key: 'device-1', id: 'e1', ts: 1_700_000_000_123, value: bytes('{"t":21.5}') },
        { key: 'capteur-é-✓', id: 'e2', ts: 1_700_000_000_456, value: binary },
        { key: 'device-1', value: new Uint8Array(0) },
      ]);
      expect(result).toEqual({ appended: 3, duplicates: 0 });
      const records = await stream.read(topic, 0, 0);
      expect(records.map((r) => r.offset)).toEqual([0, 1, 2]);
      expect(records[0]).toMatchObject({ topic, partition: 0, key: 'device-1', id: 'e1', ts: 1_700_000_000_123 });
      expect(text(records[0]!)).toBe('{"t":21.5}');
      expect(records[1]).toMatchObject({ key: 'capteur-é-✓', id: 'e2', ts: 1_700_000_000_456 });
      expect([...records[1]!.value]).toEqual([...binary]);
      expect(records[2]!.id).toBeUndefined();
      expect(records[2]!.value.length).toBe(0);
      // Without an event time, the record takes its append time.
      expect(records[2]!.ts).toBe(records[2]!.appendTime);
      for (const r of records) expect(Number.isFinite(r.appendTime)).toBe(true);
      expect(await stream.read(topic, 0, 1, { maxRecords: 1 })).toHaveLength(1);
      expect(await stream.read(topic, 0, 3)).toEqual([]);
    });

    it('puts every key on partitionFor(key) and keeps each key in order', async () => {
      const { stream } = await openStream();
      const topic = topicName('order');
      await stream.ensureTopic(topic, { partitions: 4 });
      const keys = Array.from({ length: 8 }, (_, i) => `sensor-${i}`);
      for (let round = 0; round < 5; round++) {
        await stream.append(topic, keys.map((k) => rec(k, `${k}:${round}`, String(round))));
      }
      const all = await readAll(stream, topic);
      expect(all).toHaveLength(40);
      for (const r of all) expect(r.partition).toBe(partitionFor(r.key, 4));
      for (const k of keys) {
        expect(all.filter((r) => r.key === k).map(text)).toEqual(['0', '1', '2', '3', '4']);
      }
    });

    it('lands every record of many concurrent appends, with dense offsets', async () => {
      const { stream } = await openStream();
      const topic = topicName('parallel');
      await stream.ensureTopic(topic, { partitions: 3 });
      const calls = Array.from({ length: 40 }, (_, c) =>
        stream.append(topic, Array.from({ length: 25 }, (_, i) => rec(`dev-${(c * 7 + i) % 13}`, `c${c}-r${i}`))),
      );
      const results = await Promise.all(calls);
      expect(results.reduce((n, r) => n + r.appended, 0)).toBe(1000);
      const info = await stream.describe(topic);
      expect(info.partitions.reduce((n, p) => n + p.endOffset - p.startOffset, 0)).toBe(1000);
      const all = await readAll(stream, topic);
      expect(new Set(all.map((r) => r.id)).size).toBe(1000);
      for (const p of info.partitions) {
        const offsets = all.filter((r) => r.partition === p.partition).map((r) => r.offset);
        expect(offsets).toEqual(Array.from({ length: p.endOffset }, (_, i) => i));
      }
    });

    it('resumes a consumer group after its committed offsets when the stream reopens', async () => {
      const first = await openStream();
      const topic = topicName('resume');
      await first.stream.ensureTopic(topic, { partitions: 2 });
      await first.stream.append(topic, Array.from({ length: 30 }, (_, i) => rec(`d${i % 5}`, `old-${i}`)));
      const c1 = await first.stream.consumer({ topic, group: 'delivery' });
      const got = await consume(c1, 30);
      expect(got).toHaveLength(30);
      await c1.commit(positionsAfter(got));
      await first.stream.close();

      const { stream } = await openStream(first.dir);
      await stream.append(topic, Array.from({ length: 10 }, (_, i) => rec(`d${i % 5}`, `new-${i}`)));
      const c2 = await stream.consumer({ topic, group: 'delivery' });
      const again = await consume(c2, 10);
      expect(ids(again)).toEqual(Array.from({ length: 10 }, (_, i) => `new-${i}`).sort());
      expect(await c2.read({ maxWaitMs: 0 })).toEqual([]);
    });

    it('delivers records read but not committed again after a restart', async () => {
      const first = await openStream();
      const topic = topicName('redeliver');
      await first.stream.ensureTopic(topic, { partitions: 1 });
      await first.stream.append(topic, Array.from({ length: 20 }, (_, i) => rec('k', `r${String(i).padStart(2, '0')}`)));
      const c1 = await first.stream.consumer({ topic, group: 'state' });
      const got = await consume(c1, 20);
      expect(got).toHaveLength(20);
      await c1.commit([{ partition: 0, offset: 12 }]);
      await first.stream.close();

      const { stream } = await openStream(first.dir);
      const c2 = await stream.consumer({ topic, group: 'state' });
      const again = await consume(c2, 8);
      expect(again.map((r) => r.offset)).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);
      expect(again[0]!.id).toBe('r12');
    });

    it('splits partitions between members and hands a closed member\'s share over from its committed offsets', async () => {
      const { stream } = await openStream();
      const topic = topicName('members');
      await stream.ensureTopic(topic, { partitions: 4 });
      const a = await stream.consumer({ topic, group: 'rules' });
      expect(a.assignment()).toEqual([0, 1, 2, 3]);
      const b = await stream.consumer({ topic, group: 'rules' });
      const shareA = a.assignment();
      const shareB = b.assignment();
      expect(shareA.length).toBeGreaterThan(0);
      expect(shareB.length).toBeGreaterThan(0);
      expect([...shareA, ...shareB].sort()).toEqual([0, 1, 2, 3]);

      const keys = Array.from({ length: 40 }, (_, i) => `device-${i}`);
      await stream.append(topic, keys.map((k) => rec(k, `${k}-1`)));
      const readA = await consume(a, 40);
      const readB = await consume(b, 40);
      expect(readA.length + readB.length).toBe(40);
      for (const r of readA) expect(shareA).toContain(r.partition);
      for (const r of readB) expect(shareB).toContain(r.partition);
      await a.commit(positionsAfter(readA));
      await expect(a.commit([{ partition: shareB[0]!, offset: 1 }])).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_NOT_ASSIGNED.is);

      await b.close();
      expect(a.assignment()).toEqual([0, 1, 2, 3]);
      // b never committed: what it read comes again, and nothing a committed does.
      const handed = await consume(a, readB.length);
      expect(ids(handed)).toEqual(ids(readB));
      expect(await a.read({ maxWaitMs: 50 })).toEqual([]);
    });

    it('starts a new group at the end with from: latest', async () => {
      const { stream } = await openStream();
      const topic = topicName('latest');
      await stream.ensureTopic(topic, { partitions: 2 });
      await stream.append(topic, Array.from({ length: 5 }, (_, i) => rec(`k${i}`, `before-${i}`)));
      const c = await stream.consumer({ topic, group: 'tail', from: 'latest' });
      expect(await c.read({ maxWaitMs: 0 })).toEqual([]);
      await stream.append(topic, Array.from({ length: 3 }, (_, i) => rec(`k${i}`, `after-${i}`)));
      expect(ids(await consume(c, 3))).toEqual(['after-0', 'after-1', 'after-2']);
    });

    it('wakes a long-polling read as soon as records arrive', async () => {
      const { stream } = await openStream();
      const topic = topicName('longpoll');
      await stream.ensureTopic(topic, { partitions: 2 });
      const c = await stream.consumer({ topic, group: 'poll' });
      expect(await c.read({ maxWaitMs: 0 })).toEqual([]);
      // A read that would otherwise wait far longer than this test's timeout.
      const pending = c.read({ maxWaitMs: 600_000 });
      await sleep(20);
      await stream.append(topic, [rec('x', 'wake')]);
      expect(ids(await pending)).toEqual(['wake']);
    }, 10_000);

    it('replays from an offset (seek) and from a time (seekToTime, offsetForTime)', async () => {
      const { stream } = await openStream();
      const topic = topicName('replay');
      await stream.ensureTopic(topic, { partitions: 1 });
      await stream.append(topic, Array.from({ length: 5 }, (_, i) => rec('k', `a${i}`)));
      await sleep(30);
      const between = Date.now();
      await sleep(30);
      await stream.append(topic, Array.from({ length: 5 }, (_, i) => rec('k', `b${i}`)));
      expect(await stream.offsetForTime(topic, 0, between)).toBe(5);
      expect(await stream.offsetForTime(topic, 0, 0)).toBe(0);
      expect(await stream.offsetForTime(topic, 0, Date.now() + 60_000)).toBe(10);

      const c = await stream.consumer({ topic, group: 'replay' });
      expect(await consume(c, 10)).toHaveLength(10);
      c.seek({ partition: 0, offset: 3 });
      expect((await consume(c, 7)).map((r) => r.offset)).toEqual([3, 4, 5, 6, 7, 8, 9]);
      await c.seekToTime(between);
      expect(ids(await consume(c, 5))).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    });

    it('skips records whose id was already appended (dedup window)', async () => {
      const { stream } = await openStream();
      const topic = topicName('dedup');
      await stream.ensureTopic(topic, { partitions: 2 });
      expect(await stream.append(topic, [rec('k1', 'a'), rec('k2', 'b'), rec('k1', 'a')])).toEqual({ appended: 2, duplicates: 1 });
      expect(await stream.append(topic, [rec('k2', 'b'), rec('k1', 'c')])).toEqual({ appended: 1, duplicates: 1 });
      const all = await readAll(stream, topic);
      expect(ids(all)).toEqual(['a', 'b', 'c']);
    });

    it('does not take the same id from two devices for a duplicate', async () => {
      const { stream } = await openStream();
      const topic = topicName('dedup-keys');
      await stream.ensureTopic(topic, { partitions: 1 }); // both devices in one partition
      expect(await stream.append(topic, [rec('device-a', 'reading-1'), rec('device-b', 'reading-1')])).toEqual({ appended: 2, duplicates: 0 });
      expect(await stream.append(topic, [rec('device-b', 'reading-1')])).toEqual({ appended: 0, duplicates: 1 });
      expect((await readAll(stream, topic)).map((r) => r.key)).toEqual(['device-a', 'device-b']);
    });

    it('reports lag for every group that has committed', async () => {
      const { stream } = await openStream();
      const topic = topicName('lag');
      await stream.ensureTopic(topic, { partitions: 1 });
      await stream.append(topic, Array.from({ length: 10 }, (_, i) => rec('k', `l${i}`)));
      const committed = await stream.consumer({ topic, group: 'committed' });
      await consume(committed, 10);
      await committed.commit([{ partition: 0, offset: 4 }]);
      await committed.close();
      const idle = await stream.consumer({ topic, group: 'never-committed' });
      await consume(idle, 10);
      const lag = await stream.lag(topic);
      expect(lag).toEqual([{ group: 'committed', topic, partitions: [{ partition: 0, committed: 4, endOffset: 10, lag: 6 }] }]);
    });
  });
}
