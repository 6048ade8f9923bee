import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { streamErrors } from '../../errors.js';
import { openEmbeddedStream, type EmbeddedStream, type EmbeddedStreamOptions } from './engine.js';
import { memoryLogger, readPartition, records } from './test-support.js';
import { tempDir } from '@strata/testkit';

describe('embedded stream retention', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  let clock = 0;
  async function open(opts: Partial<EmbeddedStreamOptions> = {}): Promise<{ stream: EmbeddedStream; dir: string; logger: ReturnType<typeof memoryLogger> }> {
    const t = tempDir('retention');
    cleanups.push(t.remove);
    clock = 1_000_000;
    const logger = memoryLogger();
    const stream = await openEmbeddedStream({ dir: t.dir, logger, now: () => clock, segmentBytes: 1000, ...opts });
    cleanups.push(() => stream.close().catch(() => undefined));
    return { stream, dir: t.dir, logger };
  }

  const segments = (dir: string) => readdirSync(join(dir, 't', '0')).filter((f) => f.endsWith('.log')).sort();

  it('deletes segments older than retentionMs, including an idle active one, and moves lagging groups on', async () => {
    const { stream, dir, logger } = await open();
    await stream.ensureTopic('t', { partitions: 1, retentionMs: 10_000 });
    for (let i = 0; i < 6; i++) {
      await stream.append('t', records(`old${i}`, 10));
      clock += 1000;
    }
    const c = await stream.consumer({ topic: 't', group: 'slow' });
    await c.commit([{ partition: 0, offset: 15 }]);
    clock += 5_500; // the first appends are now older than 10 s, the last ones are not
    await stream.runRetention();
    const mid = (await stream.describe('t')).partitions[0]!;
    expect(mid.startOffset).toBeGreaterThan(0);
    expect(mid.endOffset).toBe(60);
    expect((await readPartition(stream, 't'))[0]!.offset).toBe(mid.startOffset);

    clock += 60_000;
    await stream.runRetention();
    const info = (await stream.describe('t')).partitions[0]!;
    expect(info).toMatchObject({ startOffset: 60, endOffset: 60, bytes: 0 });
    expect(segments(dir)).toEqual(['00000000000000000060.log']);
    expect(await readPartition(stream, 't')).toEqual([]);
    expect(logger.lines.filter((l) => l.level === 'warn' && l.obj.group === 'slow').map((l) => l.obj.lost).reduce((a, b) => Number(a) + Number(b), 0)).toBe(45);
    expect((await stream.lag('t'))[0]!.partitions[0]).toMatchObject({ committed: 60, lag: 0 });
    // Appends go on at the next offset.
    await stream.append('t', records('new', 2));
    expect((await readPartition(stream, 't')).map((r) => r.offset)).toEqual([60, 61]);
  });

  it('keeps a partition under retentionBytes by deleting its oldest segments when no group holds them', async () => {
    const { stream, dir } = await open();
    await stream.ensureTopic('t', { partitions: 1, retentionBytes: 3000 });
    for (let i = 0; i < 20; i++) await stream.append('t', records(`b${i}`, 10));
    await stream.runRetention();
    const info = (await stream.describe('t')).partitions[0]!;
    expect(info.bytes).toBeLessThanOrEqual(3000);
    expect(info.startOffset).toBeGreaterThan(0);
    expect(info.endOffset).toBe(200);
    expect(segments(dir)[0]).not.toBe('00000000000000000000.log');
  });

  it('never deletes unread data for size: appends fail with STRATA_ERR_STREAM_FULL until the group commits', async () => {
    const { stream } = await open();
    await stream.ensureTopic('t', { partitions: 1, retentionBytes: 3000 });
    // A member that has joined but not committed yet (delivery before its first flush) holds the data too.
    const c = await stream.consumer({ topic: 't', group: 'delivery' });
    let full: unknown = null;
    let appended = 0;
    for (let i = 0; i < 30 && !full; i++) {
      try {
        appended += (await stream.append('t', records(`b${i}`, 10))).appended;
      } catch (err) {
        full = err;
      }
    }
    expect(streamErrors.STRATA_ERR_STREAM_FULL.is(full)).toBe(true);
    expect((full as Error).message).toContain('retention cap reached with unread data');
    expect(stream.health()).toMatchObject({ writable: false });
    await stream.runRetention();
    const info = (await stream.describe('t')).partitions[0]!;
    // Nothing was written by the rejected call and nothing unread was deleted.
    expect(info).toMatchObject({ startOffset: 0, endOffset: appended });
    await expect(stream.append('t', records('more', 1))).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_FULL.is);

    const read = await c.read({ maxRecords: 10_000, maxWaitMs: 0 });
    expect(read).toHaveLength(appended);
    await c.commit([{ partition: 0, offset: appended }]);
    expect(await stream.append('t', records('more', 1))).toEqual({ appended: 1, duplicates: 0 });
    await stream.runRetention();
    const after = (await stream.describe('t')).partitions[0]!;
    expect(after.startOffset).toBeGreaterThan(0);
    expect(after.bytes).toBeLessThanOrEqual(3000);
    expect(stream.health()).toEqual({ writable: true });
  });
});
