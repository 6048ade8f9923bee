import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { streamErrors } from '../../errors.js';
import type { Stream } from '../../types.js';
import { openEmbeddedStream, type EmbeddedStreamOptions } from './engine.js';
import { memoryLogger, readPartition, records } from './test-support.js';
import { tempDir } from '@strata/testkit';

const SEGMENT0 = '00000000000000000000.log';

describe('embedded stream recovery at open', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function open(opts: EmbeddedStreamOptions): Promise<Stream> {
    const s = await openEmbeddedStream(opts);
    cleanups.push(() => s.close().catch(() => undefined));
    return s;
  }

  /** A closed stream with one partition holding three appends of 10 records. */
  async function threeBatches(opts: Partial<EmbeddedStreamOptions> = {}): Promise<{ dir: string; segment: string; sizes: number[] }> {
    const t = tempDir('recovery');
    cleanups.push(t.remove);
    const stream = await open({ dir: t.dir, ...opts });
    await stream.ensureTopic('t', { partitions: 1 });
    const segment = join(t.dir, 't', '0', SEGMENT0);
    const sizes: number[] = [];
    for (const b of ['a', 'b', 'c']) {
      await stream.append('t', records(b, 10));
      sizes.push(statSync(segment).size);
    }
    await stream.close();
    return { dir: t.dir, segment, sizes };
  }

  it('drops garbage written after the last frame, logs it, and appends after the good data', async () => {
    const { dir, segment, sizes } = await threeBatches();
    appendFileSync(segment, Buffer.from('this is not a frame, just junk bytes from a bad disk'));
    const logger = memoryLogger();
    const stream = await open({ dir, logger });
    const warning = logger.lines.find((l) => l.level === 'warn' && 'bytesDropped' in l.obj);
    expect(warning?.obj.bytesDropped).toBe(52);
    expect(statSync(segment).size).toBe(sizes[2]);
    expect(await readPartition(stream, 't')).toHaveLength(30);
    await stream.append('t', records('d', 5));
    expect((await readPartition(stream, 't')).map((r) => r.offset)).toEqual(Array.from({ length: 35 }, (_, i) => i));
  });

  it('drops a torn last frame (bytes cut off the tail) and reuses its offsets', async () => {
    const { dir, segment, sizes } = await threeBatches();
    truncateSync(segment, sizes[2]! - 7);
    const logger = memoryLogger();
    const stream = await open({ dir, logger });
    expect(logger.lines.find((l) => 'bytesDropped' in l.obj)?.obj).toMatchObject({ bytesDropped: sizes[2]! - 7 - sizes[1]!, reason: 'short frame body' });
    const survived = await readPartition(stream, 't');
    expect(survived.map((r) => r.id)).toEqual([...records('a', 10), ...records('b', 10)].map((r) => r.id));
    await stream.append('t', records('d', 1));
    expect((await stream.read('t', 0, 20))[0]).toMatchObject({ offset: 20, id: 'd-0' });
  });

  it('truncates at the first frame whose checksum does not match', async () => {
    const { dir, segment, sizes } = await threeBatches();
    const bytes = readFileSync(segment);
    bytes[sizes[0]! + 60]! ^= 0xff; // inside the second frame
    writeFileSync(segment, bytes);
    const logger = memoryLogger();
    const stream = await open({ dir, logger });
    expect(logger.lines.find((l) => 'bytesDropped' in l.obj)?.obj).toMatchObject({ reason: 'crc mismatch', position: sizes[0] });
    expect((await readPartition(stream, 't')).map((r) => r.id)).toEqual(records('a', 10).map((r) => r.id));
  });

  it('rebuilds a missing or inconsistent segment index by scanning', async () => {
    const t = tempDir('reindex');
    cleanups.push(t.remove);
    const first = await open({ dir: t.dir, segmentBytes: 800 });
    await first.ensureTopic('t', { partitions: 1 });
    for (let i = 0; i < 8; i++) await first.append('t', records(`b${i}`, 10));
    await first.close();
    const pdir = join(t.dir, 't', '0');
    const idx = readdirSync(pdir).filter((f) => f.endsWith('.idx')).sort();
    expect(idx.length).toBeGreaterThanOrEqual(3);
    rmSync(join(pdir, idx[0]!));
    writeFileSync(join(pdir, idx[1]!), Buffer.from('SIDX garbage'));
    const good = readFileSync(join(pdir, idx[2]!));
    writeFileSync(join(pdir, idx[2]!), good.subarray(0, good.length - 40)); // one frame short
    const logger = memoryLogger();
    const stream = await open({ dir: t.dir, logger, tailCacheBytes: 1 });
    expect(logger.lines.filter((l) => l.msg === 'rebuilt missing or stale segment index')).toHaveLength(3);
    const all = await readPartition(stream, 't');
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    expect(readdirSync(pdir).filter((f) => f.endsWith('.idx')).sort()).toEqual(idx);
  });

  it('never serves a corrupt frame of a sealed segment: the read fails with STRATA_ERR_STREAM_CORRUPT', async () => {
    const t = tempDir('corrupt');
    cleanups.push(t.remove);
    const first = await open({ dir: t.dir, segmentBytes: 800 });
    await first.ensureTopic('t', { partitions: 1 });
    for (let i = 0; i < 4; i++) await first.append('t', records(`b${i}`, 10));
    await first.close();
    const segment = join(t.dir, 't', '0', SEGMENT0);
    const bytes = readFileSync(segment);
    bytes[100]! ^= 0x01;
    writeFileSync(segment, bytes);
    const stream = await open({ dir: t.dir });
    await expect(stream.read('t', 0, 0)).rejects.toSatisfy(
      (e: unknown) => streamErrors.STRATA_ERR_STREAM_CORRUPT.is(e) && e.statusCode === 500 && /crc mismatch/.test(e.message),
    );
    // Later segments still read.
    expect((await stream.read('t', 0, 30, { maxRecords: 10 })).map((r) => r.id)).toEqual(records('b3', 10).map((r) => r.id));
  });
});
