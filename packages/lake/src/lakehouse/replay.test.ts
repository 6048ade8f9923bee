import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { openEmbeddedStream, streamErrors, type Stream, type StreamRecord } from '@strata/stream';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { memoryLogger, tempDir } from '@strata/testkit';
import { hourPath, objectKey } from '../delivery/layout.js';
import { lakeErrors } from '../errors.js';
import { replayRaw, replayWindow } from './replay.js';

const TOPIC = 'telemetry';
const H = 3_600_000;
const T0 = Date.UTC(2025, 11, 4, 10); // 2025-12-04T10:00Z

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup(): Promise<{ store: ObjectStore; stream: Stream }> {
  const tmp = tempDir('replay');
  cleanups.push(() => tmp.remove());
  const store = await openLocalStore({ root: `${tmp.dir}/lake` });
  cleanups.push(() => store.close());
  const stream = await openEmbeddedStream({ dir: `${tmp.dir}/stream` });
  cleanups.push(() => stream.close());
  await stream.ensureTopic(TOPIC, { partitions: 3, dedupWindowMs: 120_000 });
  return { store, stream };
}

/** A raw line as ingest writes it; `temp` printed with a trailing zero to show the text is kept. */
function line(id: string, device: string, tsMs: number): string {
  const ts = new Date(tsMs).toISOString();
  return `{"id":"${id}","device":"${device}","ts":"${ts}","metrics":{"temp":21.50},"tags":{"kind":"machine"},"received_at":"${ts}","source":"http"}`;
}

/** Writes the lines as one raw object of `hour` (delivery's layout), partition p, offsets from `first`. */
async function putRaw(store: ObjectStore, tsOfHour: number, lines: string[], p = 0, first = 0): Promise<string> {
  const key = objectKey('raw', TOPIC, hourPath(tsOfHour), p, first, first + lines.length - 1);
  await store.put(key, gzipSync(lines.map((l) => `${l}\n`).join('')));
  return key;
}

async function everything(stream: Stream): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for (const p of (await stream.describe(TOPIC)).partitions) out.push(...(await stream.read(TOPIC, p.partition, 0, { maxRecords: 100_000 })));
  return out;
}

/** A raw zone over three hours: devices a, b, c, one event every 10 minutes each. */
async function threeHours(store: ObjectStore): Promise<void> {
  for (let h = 0; h < 3; h++) {
    const lines: string[] = [];
    for (let m = 0; m < 60; m += 10) for (const d of ['a', 'b', 'c']) lines.push(line(`${d}-${h}-${m}`, d, T0 + h * H + m * 60_000));
    await putRaw(store, T0 + h * H, lines, h % 2, h * 100);
  }
}

describe('replayRaw', () => {
  it('re-publishes exactly the events of the window and devices, ids kept, flagged as replayed', async () => {
    const { store, stream } = await setup();
    await threeHours(store);
    const since = T0 + 30 * 60_000; // 10:30
    const until = T0 + 2 * H + 20 * 60_000; // 12:20
    const report = await replayRaw({ store, stream, since, until, devices: ['a', 'c'], batchSize: 4 });

    const expected: string[] = [];
    for (let t = since; t < until; t += 10 * 60_000) {
      const h = Math.floor((t - T0) / H);
      const m = ((t - T0) % H) / 60_000;
      expected.push(`a-${h}-${m}`, `c-${h}-${m}`);
    }
    expect(expected).toHaveLength(22);
    const records = await everything(stream);
    expect(records.map((r) => r.id).sort()).toEqual(expected.sort());
    expect(report).toEqual({ objects: 3, events: 22, appended: 22, duplicates: 0, skipped: 54 - 22, invalid: 0, unreadable: 0 });
    for (const r of records) {
      const value = r.value.toString('utf8');
      const doc = JSON.parse(value) as Record<string, unknown>;
      expect(doc.replay).toBe(true);
      expect(r.key).toBe(doc.device);
      expect(r.ts).toBe(Date.parse(doc.ts as string));
      // The original line, text for text, with the flag added.
      expect(value).toBe(`${line(doc.id as string, doc.device as string, r.ts).slice(0, -1)},"replay":true}`);
    }
  });

  it('appends nothing the second time within the dedup window', async () => {
    const { store, stream } = await setup();
    await threeHours(store);
    const first = await replayRaw({ store, stream, since: T0, until: T0 + 3 * H });
    expect(first).toMatchObject({ events: 54, appended: 54, duplicates: 0 });
    const second = await replayRaw({ store, stream, since: T0, until: T0 + 3 * H });
    expect(second).toMatchObject({ events: 54, appended: 0, duplicates: 54 });
    expect(await everything(stream)).toHaveLength(54);
  });

  it('lists only the partitions of the window, a whole day as one prefix', async () => {
    const { store, stream } = await setup();
    await putRaw(store, Date.UTC(2025, 11, 3, 23), [line('before', 'a', Date.UTC(2025, 11, 3, 23, 59))]);
    await putRaw(store, Date.UTC(2025, 11, 4, 5), [line('in', 'a', Date.UTC(2025, 11, 4, 5))]);
    await putRaw(store, Date.UTC(2025, 11, 6, 1), [line('after', 'a', Date.UTC(2025, 11, 6, 1, 30))]);
    const listed: string[] = [];
    const spy: ObjectStore = { ...store, engine: store.engine, list: (prefix) => (listed.push(prefix), store.list(prefix)), get: (k) => store.get(k) };
    const report = await replayRaw({ store: spy, stream, since: Date.UTC(2025, 11, 3, 22, 30), until: Date.UTC(2025, 11, 6, 1, 30) });
    expect(listed).toEqual([
      'raw/telemetry/year=2025/month=12/day=03/hour=22/',
      'raw/telemetry/year=2025/month=12/day=03/hour=23/',
      'raw/telemetry/year=2025/month=12/day=04/',
      'raw/telemetry/year=2025/month=12/day=05/',
      'raw/telemetry/year=2025/month=12/day=06/hour=00/',
      'raw/telemetry/year=2025/month=12/day=06/hour=01/',
    ]);
    expect(report).toMatchObject({ objects: 3, events: 2, skipped: 1 });
    expect((await everything(stream)).map((r) => r.id).sort()).toEqual(['before', 'in']);
  });

  it('counts and logs invalid lines and unreadable objects, and replays the rest', async () => {
    const { store, stream } = await setup();
    const logger = memoryLogger();
    await putRaw(store, T0, [line('ok-1', 'a', T0), 'not json', '[1]', '{"id":"x","device":"a b","ts":"2025-12-04T10:00:00Z"}', '{"id":"y","device":"a","ts":"soon"}', line('ok-2', 'a', T0 + 1)]);
    await store.put(objectKey('raw', TOPIC, hourPath(T0), 1, 0, 5), Buffer.from('not gzip'));
    const report = await replayRaw({ store, stream, since: T0, until: T0 + H, logger });
    expect(report).toMatchObject({ objects: 2, events: 2, appended: 2, invalid: 4, unreadable: 1 });
    expect(report.error).toBeUndefined();
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'replay: invalid lines in a raw object; not replayed',
      'replay: raw object unreadable; skipped',
    ]);
  });

  it('keeps an event already flagged as it is', async () => {
    const { store, stream } = await setup();
    const flagged = `${line('e', 'a', T0).slice(0, -1)},"replay":true}`;
    await putRaw(store, T0, [flagged]);
    await replayRaw({ store, stream, since: T0, until: T0 + H });
    expect((await everything(stream))[0]?.value.toString()).toBe(flagged);
  });

  it('reports where to resume when the stream fails half-way', async () => {
    const { store, stream } = await setup();
    await threeHours(store);
    let appends = 0;
    const failing: Stream = Object.assign(Object.create(stream) as Stream, {
      append: (topic: string, records: Parameters<Stream['append']>[1]) => {
        if (++appends === 3) return Promise.reject(streamErrors.STRATA_ERR_STREAM_IO({ reason: 'disk gone' }));
        return stream.append(topic, records);
      },
    });
    const report = await replayRaw({ store, stream: failing, since: T0, until: T0 + 3 * H, batchSize: 9 });
    // Batches of 9: two appended (hour 10 holds 18 events), the third (hour 11) failed.
    expect(report).toMatchObject({ appended: 18, error: { code: 'STRATA_ERR_STREAM_IO', resumeSince: new Date(T0 + H).toISOString() } });
    const resumed = await replayRaw({ store, stream, since: Date.parse(report.error!.resumeSince), until: T0 + 3 * H });
    expect(resumed).toMatchObject({ appended: 36, duplicates: 0 });
    expect(resumed.error).toBeUndefined();
    expect(await everything(stream)).toHaveLength(54);
  });

  it('stops between batches when its signal aborts', async () => {
    const { store, stream } = await setup();
    await threeHours(store);
    const abort = new AbortController();
    abort.abort('the server is shutting down');
    const report = await replayRaw({ store, stream, since: T0, until: T0 + 3 * H, signal: abort.signal });
    expect(report).toMatchObject({ appended: 0, error: { message: 'replay stopped: the server is shutting down', resumeSince: new Date(T0).toISOString() } });
  });

  it('refuses a window that ends before it starts', async () => {
    const { store, stream } = await setup();
    await expect(replayRaw({ store, stream, since: T0, until: T0 })).rejects.toSatisfy(lakeErrors.STRATA_ERR_LAKE_BAD_OPTION.is);
  });
});


describe('replayWindow', () => {
  it('reads RFC 3339 times and dates', () => {
    expect(replayWindow({ since: '2025-12-04T10:00:00Z', until: '2025-12-04T12:30:00.5+02:00' })).toEqual({ since: T0, until: T0 + 30 * 60_000 + 500 });
    expect(replayWindow({ since: '2025-12-04' })).toEqual({ since: Date.UTC(2025, 11, 4) });
  });

  it.each([
    [{ since: 'yesterday' }, 'since'],
    [{ since: '2025-02-30' }, 'since'],
    [{ since: '2025-12-04T10:00:00' }, 'since'], // no zone: whose local time?
    [{ since: '2025-12-04', until: '2025-12-04T25:00Z' }, 'until'],
    [{ since: '2025-12-04', until: '2025-12-04' }, 'until'],
    [{ since: '2025-12-05', until: '2025-12-04' }, 'until'],
  ])('refuses %j (%s)', (text, option) => {
    let err: unknown;
    try {
      replayWindow(text);
    } catch (e) {
      err = e;
    }
    expect(lakeErrors.STRATA_ERR_LAKE_BAD_OPTION.is(err)).toBe(true);
    expect((err as { details: { option: string } }).details.option).toBe(option);
  });
});
