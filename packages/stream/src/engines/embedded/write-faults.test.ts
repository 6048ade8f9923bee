import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { streamErrors } from '../../errors.js';
import { createEmbeddedStream, openEmbeddedStream } from './engine.js';
import { nodeFileOps, type FileOps } from './file-ops.js';
import { memoryLogger, readPartition, records } from './test-support.js';
import { tempDir } from '@strata/testkit';

/** Real file calls, with writes (and truncates) that fail on demand like a full disk. */
function faultyOps() {
  const faults = { failWrites: 0, failTruncate: false };
  const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });
  const ops: FileOps = {
    ...nodeFileOps,
    async writev(fd, buffers, position) {
      if (faults.failWrites > 0) {
        faults.failWrites--;
        // Half of the first frame reaches the file before the disk fills up.
        const first = buffers[0]!;
        await nodeFileOps.writev(fd, [first.subarray(0, first.length >> 1)], position);
        throw errno('ENOSPC');
      }
      return nodeFileOps.writev(fd, buffers, position);
    },
    async ftruncate(fd, length) {
      if (faults.failTruncate) throw errno('EIO');
      return nodeFileOps.ftruncate(fd, length);
    },
  };
  return { ops, faults };
}

describe('embedded stream write failures', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup() {
    const t = tempDir('faults');
    cleanups.push(t.remove);
    const { ops, faults } = faultyOps();
    const logger = memoryLogger();
    const stream = await createEmbeddedStream({ dir: t.dir, logger }, ops);
    cleanups.push(() => stream.close().catch(() => undefined));
    await stream.ensureTopic('t', { partitions: 1 });
    await stream.append('t', records('good', 10));
    return { stream, faults, logger, dir: t.dir, segment: join(t.dir, 't', '0', '00000000000000000000.log') };
  }

  it('maps ENOSPC to STRATA_ERR_STREAM_FULL, truncates the torn write away, and recovers on the next write', async () => {
    const { stream, faults, segment } = await setup();
    const size = statSync(segment).size;
    faults.failWrites = 1;
    await expect(stream.append('t', records('lost', 10))).rejects.toSatisfy(
      (e: unknown) => streamErrors.STRATA_ERR_STREAM_FULL.is(e) && /disk full/.test(e.message),
    );
    expect(statSync(segment).size).toBe(size);
    expect(stream.health()).toMatchObject({ writable: false, reason: expect.stringContaining('disk full') });
    // The ids of the failed call are not taken as duplicates on retry, and offsets stay dense.
    expect(await stream.append('t', records('lost', 10))).toEqual({ appended: 10, duplicates: 0 });
    expect(stream.health()).toEqual({ writable: true });
    const all = await readPartition(stream, 't');
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(all.map((r) => r.id)).toEqual([...records('good', 10), ...records('lost', 10)].map((r) => r.id));
  });

  it('rejects appends queued behind a failed write too, then carries on', async () => {
    const { stream, faults } = await setup();
    faults.failWrites = 1;
    const calls = Array.from({ length: 5 }, (_, i) => stream.append('t', records(`c${i}`, 4)));
    const settled = await Promise.allSettled(calls);
    const ok = settled.filter((s) => s.status === 'fulfilled').length;
    expect(settled.filter((s) => s.status === 'rejected').length).toBeGreaterThan(0);
    const all = await readPartition(stream, 't');
    expect(all).toHaveLength(10 + ok * 4);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: all.length }, (_, i) => i));
  });

  it('marks the partition unwritable when the truncate fails too, and recovers at the next open', async () => {
    const { stream, faults, dir } = await setup();
    faults.failWrites = 1;
    faults.failTruncate = true;
    await expect(stream.append('t', records('torn', 10))).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_FULL.is);
    expect(stream.health()).toMatchObject({ writable: false, reason: expect.stringContaining('unwritable') });
    await expect(stream.append('t', records('after', 1))).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_IO.is);
    await stream.close();

    const logger = memoryLogger();
    const reopened = await openEmbeddedStream({ dir, logger });
    cleanups.push(() => reopened.close());
    expect(logger.lines.some((l) => l.level === 'warn' && Number(l.obj.bytesDropped) > 0)).toBe(true);
    expect(reopened.health()).toEqual({ writable: true });
    expect((await readPartition(reopened, 't')).map((r) => r.id)).toEqual(records('good', 10).map((r) => r.id));
  });
});
