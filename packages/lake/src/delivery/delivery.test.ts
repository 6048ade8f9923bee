import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { openEmbeddedStream, type Consumer, type Stream } from '@strata/stream';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { countBy, tempDir } from '@strata/testkit';
import { startDelivery } from './delivery.js';
import type { Delivery, DeliveryOptions } from './types.js';

const TOPIC = 'telemetry';
const H = 3_600_000;
/** 2025-12-31T22:00Z: with +1 h, +2 h the events cross an hour, a day, a month and a year. */
const T0 = Date.UTC(2025, 11, 31, 22, 10);

interface Env {
  dir: string;
  stream: Stream;
  store: ObjectStore;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function openStream(dir: string, partitions: number): Promise<Stream> {
  const stream = await openEmbeddedStream({ dir: join(dir, 'stream') });
  await stream.ensureTopic(TOPIC, { partitions });
  return stream;
}

async function setup(partitions = 1): Promise<Env> {
  const tmp = tempDir('delivery');
  const env: Env = { dir: tmp.dir, stream: await openStream(tmp.dir, partitions), store: await openLocalStore({ root: join(tmp.dir, 'lake') }) };
  cleanups.push(() => tmp.remove());
  cleanups.push(async () => {
    await env.stream.close().catch(() => undefined);
    await env.store.close().catch(() => undefined);
  });
  return env;
}

/** Closes the stream and store and opens them again, as a restarted process would. */
async function restart(env: Env, partitions = 1): Promise<void> {
  await env.stream.close();
  await env.store.close();
  env.stream = await openStream(env.dir, partitions);
  env.store = await openLocalStore({ root: join(env.dir, 'lake') });
}

async function deliver(env: Env, opts: Partial<DeliveryOptions> = {}): Promise<Delivery> {
  const d = await startDelivery({ stream: env.stream, store: env.store, topic: TOPIC, flushBytes: 1 << 30, flushIntervalMs: 1 << 30, pollMs: 20, retry: { minMs: 5, maxMs: 20 }, ...opts });
  cleanups.push(() => d.stop());
  return d;
}

let seq = 0;
function event(ts: number, device = 'dev-1'): { id: string; value: Buffer; ts: number; key: string } {
  const id = `evt-${seq++}`;
  return { id, key: device, ts, value: Buffer.from(JSON.stringify({ id, device, ts: new Date(ts).toISOString(), metrics: { temperature: 20 + (seq % 10) } })) };
}

async function append(env: Env, events: { id: string; value: Buffer; ts: number; key: string }[]): Promise<string[]> {
  await env.stream.append(TOPIC, events.map(({ key, value, ts }) => ({ key, value, ts })));
  return events.map((e) => e.id);
}

interface ZoneLine {
  key: string;
  line: Record<string, unknown>;
}

/** Every line of every object under `<zone>/<topic>/`, gunzipped and parsed. */
async function readZone(store: ObjectStore, zone: 'raw' | 'errors'): Promise<ZoneLine[]> {
  const out: ZoneLine[] = [];
  for await (const obj of store.list(`${zone}/${TOPIC}/`)) {
    const text = gunzipSync((await store.get(obj.key))!).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.slice(0, -1).split('\n')) out.push({ key: obj.key, line: JSON.parse(line) as Record<string, unknown> });
  }
  return out;
}

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const obj of store.list(prefix)) keys.push(obj.key);
  return keys;
}

/** Asserts every id appears exactly once in the raw zone and nothing else does. */
async function expectExactlyOnce(store: ObjectStore, ids: string[]): Promise<ZoneLine[]> {
  const lines = await readZone(store, 'raw');
  const counts = countBy(lines, (l) => String(l.line.id));
  expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
  expect([...counts.keys()].sort()).toEqual([...ids].sort());
  return lines;
}

/** Within one (zone, hour, partition) the offset ranges in object names never overlap. */
function expectDisjointRanges(keys: string[]): void {
  const byFolder = new Map<string, [number, number][]>();
  for (const key of keys) {
    const m = /^(.*)\/[a-z0-9._-]+-(\d+)-(\d+)-(\d+)\.ndjson\.gz$/.exec(key);
    expect(m, key).not.toBeNull();
    const folder = `${m![1]}#${m![2]}`;
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), [Number(m![3]), Number(m![4])]]);
  }
  for (const ranges of byFolder.values()) {
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThan(ranges[i - 1]![1]);
  }
}

async function committed(stream: Stream, partition = 0, group = 'delivery'): Promise<number | undefined> {
  return (await stream.lag(TOPIC)).find((g) => g.group === group)?.partitions.find((p) => p.partition === partition)?.committed;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The store, with puts that can be failed or held back (a small fake around the real local store). */
class FaultyStore implements ObjectStore {
  readonly engine = 'faulty';
  puts: string[] = [];
  failures = 0;
  /** Puts allowed before every further put throws; Infinity for none. */
  failAfter = Infinity;
  down = false;
  gate: Promise<void> | undefined;
  waiting = 0;
  onPut: ((key: string) => Promise<void>) | undefined;
  constructor(readonly inner: ObjectStore) {}
  async put(key: string, body: Uint8Array): Promise<void> {
    await this.beforePut(key);
    return this.inner.put(key, body);
  }
  async putIf(key: string, body: Uint8Array, expected: string | null): Promise<string> {
    await this.beforePut(key);
    return this.inner.putIf(key, body, expected);
  }
  private async beforePut(key: string): Promise<void> {
    if (this.down || this.puts.length >= this.failAfter) {
      this.failures++;
      throw new Error(`injected put failure on ${key}`);
    }
    this.puts.push(key);
    if (this.gate && key.startsWith('raw/')) {
      this.waiting++;
      await this.gate;
    }
    await this.onPut?.(key);
  }
  get(key: string): Promise<Buffer | undefined> {
    return this.inner.get(key);
  }
  getVersioned(key: string): ReturnType<ObjectStore['getVersioned']> {
    return this.inner.getVersioned(key);
  }
  head(key: string): ReturnType<ObjectStore['head']> {
    return this.inner.head(key);
  }
  list(prefix: string): AsyncIterable<import('@strata/storage').ObjectInfo> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  probe(): Promise<void> {
    return this.inner.probe();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The real stream, with consumers whose commits fail: a crash between the objects and the commit. */
function failingCommits(stream: Stream): Stream {
  return new Proxy(stream, {
    get(target, prop, receiver) {
      if (prop !== 'consumer') return Reflect.get(target, prop, receiver) as unknown;
      return async (opts: Parameters<Stream['consumer']>[0]): Promise<Consumer> => {
        const consumer = await target.consumer(opts);
        return new Proxy(consumer, {
          get(c, p) {
            if (p === 'commit') return () => Promise.reject(new Error('injected commit failure'));
            const v = Reflect.get(c, p, c) as unknown;
            return typeof v === 'function' ? v.bind(c) : v;
          },
        });
      };
    },
  });
}

describe('delivery to the raw zone', () => {
  it('writes one object per UTC event hour with Firehose names, and commits after', async () => {
    const env = await setup();
    // Offsets 0..5 interleave three hours: 2025-12-31T22, 2025-12-31T23 and 2026-01-01T00.
    const events = [event(T0), event(T0 + H), event(T0 + 2 * H), event(T0 + 5 * 60_000), event(T0 + 2 * H + 1), event(T0 + H + 1)];
    const ids = await append(env, events);
    const d = await deliver(env);
    const report = await d.flush();

    const keys = await keysUnder(env.store, 'raw/');
    expect(keys).toEqual([
      'raw/telemetry/year=2025/month=12/day=31/hour=22/telemetry-0-0-3.ndjson.gz',
      'raw/telemetry/year=2025/month=12/day=31/hour=23/telemetry-0-1-5.ndjson.gz',
      'raw/telemetry/year=2026/month=01/day=01/hour=00/telemetry-0-2-4.ndjson.gz',
    ]);
    // Each object is the values, in offset order, each followed by a newline.
    const body = gunzipSync((await env.store.get(keys[1]!))!).toString();
    expect(body).toBe(`${events[1]!.value.toString()}\n${events[5]!.value.toString()}\n`);
    await expectExactlyOnce(env.store, ids);

    expect(report).toMatchObject({ objects: 3, records: 6, errorRecords: 0 });
    expect(report.units).toEqual([expect.objectContaining({ partition: 0, first: 0, last: 5, keys, recovered: false })]);
    expect(await committed(env.stream)).toBe(6);
    const plan = JSON.parse((await env.store.get('_state/delivery/delivery/telemetry-0.json'))!.toString());
    expect(plan).toMatchObject({ version: 1, partition: 0, first: 0, last: 5 });
    expect(d.stats()).toMatchObject({ flushes: 1, objects: 3, records: 6, errorRecords: 0, bufferedRecords: 0 });
    expect(d.stats().bytesIn).toBe(events.reduce((n, e) => n + e.value.length + 1, 0));
    expect(d.stats().bytesOut).toBeGreaterThan(0);
  });

  it('flushes a partition by itself once its buffer reaches flushBytes', async () => {
    const env = await setup(2);
    const d = await deliver(env, { flushBytes: 2000 });
    const events = Array.from({ length: 120 }, (_, i) => event(T0 + i * 1000, `dev-${i % 5}`));
    const ids = await append(env, events);
    const total = events.reduce((n, e) => n + e.value.length + 1, 0);
    // Without flush(): only the size rule can write; what is left is under 2000 bytes per partition.
    await waitFor('size-triggered flushes', () => d.stats().bytesIn + d.stats().bufferedBytes === total && d.stats().flushes >= 4);
    await waitFor('all full buffers flushed', () => d.stats().bufferedBytes < 2 * 2000);
    const auto = await keysUnder(env.store, 'raw/');
    expect(new Set(auto.map((k) => /telemetry-(\d+)-/.exec(k)![1]))).toEqual(new Set(['0', '1']));
    for await (const obj of env.store.list('raw/')) {
      const size = gunzipSync((await env.store.get(obj.key))!).length;
      expect(size).toBeGreaterThanOrEqual(2000);
      expect(size).toBeLessThan(2000 + 300);
    }
    await d.flush();
    await expectExactlyOnce(env.store, ids);
    expectDisjointRanges(await keysUnder(env.store, 'raw/'));
  });

  it('flushes a partition once its oldest record has waited flushIntervalMs (by the given clock)', async () => {
    const env = await setup();
    let clock = Date.UTC(2026, 0, 1);
    const d = await deliver(env, { flushIntervalMs: 60_000, now: () => clock });
    const ids = await append(env, [event(T0), event(T0 + 1)]);
    await waitFor('records buffered', () => d.stats().bufferedRecords === 2);
    clock += 59_999;
    await new Promise((r) => setTimeout(r, 100)); // a few loop turns: not yet due
    expect(d.stats().flushes).toBe(0);
    expect(await keysUnder(env.store, 'raw/')).toEqual([]);
    clock += 1;
    await waitFor('time-triggered flush', () => d.stats().flushes === 1);
    await expectExactlyOnce(env.store, ids);
    expect(d.stats().lastFlushAt).toBe(clock);
    expect(await committed(env.stream)).toBe(2);
  });

  it('flush() forces out everything appended before it, even records not read yet', async () => {
    const env = await setup(3);
    const d = await deliver(env, { pollMs: 5_000 });
    const ids = await append(env, Array.from({ length: 30 }, (_, i) => event(T0 + i, `dev-${i}`)));
    const report = await d.flush();
    expect(report.records).toBe(30);
    await expectExactlyOnce(env.store, ids);
    expect((await d.flush()).units).toEqual([]);
  });

  it('commits offsets only after every object of the flush is durable', async () => {
    const env = await setup();
    const faulty = new FaultyStore(env.store);
    const seenCommitted: (number | undefined)[] = [];
    faulty.onPut = async (key) => {
      if (key.startsWith('raw/')) seenCommitted.push(await committed(env.stream));
    };
    let release!: () => void;
    faulty.gate = new Promise((r) => (release = r));
    const d = await deliver({ ...env, store: faulty });
    const ids = await append(env, [event(T0), event(T0 + H), event(T0 + 2 * H)]);
    const flushing = d.flush();
    await waitFor('puts held at the gate', () => faulty.waiting === 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(await committed(env.stream)).toBeUndefined();
    expect(await keysUnder(env.store, 'raw/')).toEqual([]);
    release();
    await flushing;
    expect(seenCommitted).toEqual([undefined, undefined, undefined]);
    expect(await committed(env.stream)).toBe(3);
    await expectExactlyOnce(env.store, ids);
  });

  it('keeps the buffer and retries while the store is down, then delivers exactly once', async () => {
    const env = await setup();
    const faulty = new FaultyStore(env.store);
    faulty.down = true;
    const d = await deliver({ ...env, store: faulty }, { flushBytes: 500 });
    const ids = await append(env, Array.from({ length: 20 }, (_, i) => event(T0 + i * 10 * 60_000)));
    await waitFor('failed attempts', () => faulty.failures >= 3);
    expect(await committed(env.stream)).toBeUndefined();
    expect(d.stats().flushes).toBe(0);
    faulty.down = false;
    await d.flush();
    expect(d.stats().retries).toBeGreaterThan(0);
    await expectExactlyOnce(env.store, ids);
    expectDisjointRanges(await keysUnder(env.store, 'raw/'));
    expect(await committed(env.stream)).toBe(20);
  });

  it('after a crash in the middle of a flush, a restart redoes that flush with the same names and bytes', async () => {
    const env = await setup();
    const faulty = new FaultyStore(env.store);
    faulty.failAfter = 2; // the plan and the first object get through, the second object fails
    const a = await deliver({ ...env, store: faulty });
    const ids = await append(env, Array.from({ length: 40 }, (_, i) => event(T0 + (i % 2) * H + i)));
    const first = a.flush();
    const firstRejected = expect(first).rejects.toMatchObject({ code: 'STRATA_ERR_LAKE_DELIVERY_STOPPED' });
    await waitFor('the failing flush', async () => faulty.failures >= 2 && (await keysUnder(env.store, 'raw/')).length === 1);
    const leftBehind = await keysUnder(env.store, 'raw/');
    const leftBytes = (await env.store.get(leftBehind[0]!))!;
    // More records arrive before the crash; a restart must not fold them into the crashed flush.
    ids.push(...(await append(env, Array.from({ length: 40 }, (_, i) => event(T0 + (i % 2) * H + 100 + i)))));
    await a.stop();
    await firstRejected;
    expect(await committed(env.stream)).toBeUndefined();

    await restart(env);
    const b = await deliver(env);
    expect(b.stats()).toMatchObject({ flushes: 1, records: 40 }); // the crashed flush, redone during start
    const report = await b.flush();
    expect(report.units.map((u) => [u.first, u.last, u.recovered])).toEqual([[40, 79, false]]);
    const keys = await keysUnder(env.store, 'raw/');
    expect(keys).toContain(leftBehind[0]);
    expect(Buffer.compare((await env.store.get(leftBehind[0]!))!, leftBytes)).toBe(0);
    expect(keys).toHaveLength(4);
    await expectExactlyOnce(env.store, ids);
    expectDisjointRanges(keys);
    expect(await committed(env.stream)).toBe(80);
  });

  it('after a crash between the objects and the commit, a restart rewrites the same objects once', async () => {
    const env = await setup();
    const a = await deliver({ ...env, stream: failingCommits(env.stream) });
    const ids = await append(env, Array.from({ length: 25 }, (_, i) => event(T0 + i * 7 * 60_000)));
    const first = a.flush();
    const firstRejected = expect(first).rejects.toMatchObject({ code: 'STRATA_ERR_LAKE_DELIVERY_STOPPED' });
    await waitFor('objects written', async () => (await keysUnder(env.store, 'raw/')).length === 3);
    const before = await keysUnder(env.store, 'raw/');
    await a.stop();
    await firstRejected;
    expect(await committed(env.stream)).toBeUndefined();

    await restart(env);
    ids.push(...(await append(env, [event(T0 + 10 * H)])));
    const b = await deliver(env);
    expect(b.stats()).toMatchObject({ flushes: 1, records: 25 }); // recovery ran during start
    await b.flush();
    const after = await keysUnder(env.store, 'raw/');
    expect(after.filter((k) => !k.includes('hour=08'))).toEqual(before);
    await expectExactlyOnce(env.store, ids);
    expect(await committed(env.stream)).toBe(26);
  });

  it('routes bad records to errors/ with offset, partition, reason and raw value, never dropping them', async () => {
    const env = await setup();
    const good = event(T0);
    const pretty = { id: 'pretty-1', metrics: { t: 1 } };
    const bad = ['[1,2]', 'not json', '"just a string"', 'null', 'x'.repeat(100_000)];
    await env.stream.append(TOPIC, [
      { key: 'd', value: good.value, ts: T0 },
      ...bad.map((v) => ({ key: 'd', value: Buffer.from(v), ts: T0 + H })),
      { key: 'd', value: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), ts: T0 + H },
      { key: 'd', value: Buffer.from(JSON.stringify(pretty, null, 2)), ts: T0 },
    ]);
    const d = await deliver(env);
    const report = await d.flush();
    expect(report).toMatchObject({ records: 2, errorRecords: 6 });

    const raw = await expectExactlyOnce(env.store, [good.id, 'pretty-1']);
    expect(raw.find((l) => l.line.id === 'pretty-1')?.line).toEqual(pretty);
    expect(await keysUnder(env.store, 'errors/')).toEqual(['errors/telemetry/year=2025/month=12/day=31/hour=23/telemetry-0-1-6.ndjson.gz']);
    const errors = await readZone(env.store, 'errors');
    expect(errors.map((e) => e.line.offset)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const { line } of errors) {
      expect(Object.keys(line)).toEqual(['offset', 'partition', 'reason', 'raw']);
      expect(line.partition).toBe(0);
      expect(typeof line.reason).toBe('string');
    }
    expect(errors.slice(0, 4).map((e) => e.line.raw)).toEqual(bad.slice(0, 4));
    expect(Buffer.byteLength(errors[4]!.line.raw as string)).toBe(64 * 1024);
    expect(errors[5]!.line.reason).toMatch(/UTF-8/);
    expect(d.stats()).toMatchObject({ records: 2, errorRecords: 6 });
  });

  it('restarting with nothing pending writes nothing', async () => {
    const env = await setup(2);
    const a = await deliver(env);
    const ids = await append(env, Array.from({ length: 10 }, (_, i) => event(T0 + i, `dev-${i}`)));
    await a.flush();
    await a.stop();

    await restart(env, 2);
    const faulty = new FaultyStore(env.store);
    const b = await deliver({ ...env, store: faulty });
    expect((await b.flush()).units).toEqual([]);
    await b.stop();
    expect(faulty.puts).toEqual([]);
    expect(b.stats()).toMatchObject({ flushes: 0, objects: 0, records: 0 });
    await expectExactlyOnce(env.store, ids);
  });

  it('stop() delivers what was appended before it and then refuses flush()', async () => {
    const env = await setup(2);
    const d = await deliver(env, { pollMs: 5_000 });
    const ids = await append(env, Array.from({ length: 50 }, (_, i) => event(T0 + i * 60_000, `dev-${i % 7}`)));
    await d.stop();
    await expectExactlyOnce(env.store, ids);
    expect(await committed(env.stream, 0)).toBe((await env.stream.describe(TOPIC)).partitions[0]!.endOffset);
    await expect(d.flush()).rejects.toMatchObject({ code: 'STRATA_ERR_LAKE_DELIVERY_STOPPED' });
    await d.stop(); // idempotent
  });

  it('stays exactly-once under concurrent appends, size flushes and forced flushes', async () => {
    const env = await setup(3);
    const d = await deliver(env, { flushBytes: 3000 });
    const ids: string[] = [];
    for (let round = 0; round < 20; round++) {
      const batch = Array.from({ length: 25 }, (_, i) => event(T0 + (round * 25 + i) * 20_000, `dev-${i % 11}`));
      const appending = append(env, batch);
      if (round % 3 === 0) await Promise.all([appending, d.flush()]);
      ids.push(...(await appending));
    }
    await d.stop();
    await expectExactlyOnce(env.store, ids);
    expectDisjointRanges(await keysUnder(env.store, 'raw/'));
  });

  it('fences a member that lost a partition mid-flush: it writes nothing the new owner delivers', async () => {
    const env = await setup(2);
    const faulty = new FaultyStore(env.store);
    let release!: () => void;
    const planGate = new Promise<void>((r) => (release = r));
    let held = false;
    faulty.onPut = async (key) => {
      if (key.endsWith('/telemetry-1.json')) {
        held = true;
        await planGate; // member A stalls just before writing partition 1's plan
      }
    };
    const a = await deliver({ ...env, store: faulty });
    const ids = await append(env, Array.from({ length: 60 }, (_, i) => event(T0 + i * 1000, `dev-${i % 7}`)));
    const aFlush = a.flush();
    await waitFor('member A held at the plan of partition 1', () => held);

    // Member B joins: the group deals partition 1 to it; B delivers it while A is still stalled.
    const b = await deliver(env);
    const bReport = await b.flush();
    expect(bReport.units.map((u) => u.partition)).toEqual([1]);
    const more = await append(env, Array.from({ length: 20 }, (_, i) => event(T0 + H + i, `dev-${i % 7}`)));

    release(); // A wakes up believing it still owns partition 1
    await aFlush;
    await Promise.all([a.flush(), b.flush()]);
    await expectExactlyOnce(env.store, [...ids, ...more]);
    expectDisjointRanges(await keysUnder(env.store, 'raw/'));
    expect(faulty.puts.filter((k) => k.startsWith('raw/') && /telemetry-1-/.test(k))).toEqual([]);
  });

  it('rejects options that cannot work, and a corrupt state object', async () => {
    const env = await setup();
    for (const bad of [{ flushBytes: 0 }, { flushIntervalMs: -1 }, { gzipLevel: 10 }, { group: 'a/b' }, { topic: '..' }]) {
      await expect(deliver(env, bad), JSON.stringify(bad)).rejects.toMatchObject({ code: 'STRATA_ERR_LAKE_BAD_OPTION' });
    }
    await env.store.put('_state/delivery/delivery/telemetry-0.json', Buffer.from('{"version":1,'));
    await expect(deliver(env)).rejects.toMatchObject({ code: 'STRATA_ERR_LAKE_STATE_CORRUPT' });
  });
});
