import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeStreamContract } from '../../contract/suite.js';
import { streamErrors } from '../../errors.js';
import type { Stream } from '../../types.js';
import { openEmbeddedStream, type EmbeddedStreamOptions } from './engine.js';
import { memoryLogger, readPartition, records } from './test-support.js';
import { tempDir } from '@strata/testkit';

describeStreamContract('embedded', { open: (dir) => openEmbeddedStream({ dir }) });

describe('embedded stream engine', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function scratch(label: string): string {
    const t = tempDir(label);
    cleanups.push(t.remove);
    return t.dir;
  }

  async function open(opts: EmbeddedStreamOptions): Promise<Stream> {
    const s = await openEmbeddedStream(opts);
    cleanups.push(() => s.close().catch(() => undefined));
    return s;
  }

  it('lays topics, segments, indexes, group offsets and the lock out as documented', async () => {
    const dir = scratch('layout');
    const stream = await open({ dir, segmentBytes: 512 });
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
    await stream.ensureTopic('telemetry', { partitions: 2, retentionMs: 3_600_000 });
    const config = JSON.parse(readFileSync(join(dir, 'telemetry', 'topic.json'), 'utf8'));
    expect(config).toMatchObject({ name: 'telemetry', partitions: 2, retentionMs: 3_600_000, retentionBytes: 10 * 1024 ** 3, dedupWindowMs: 120_000 });
    for (let i = 0; i < 6; i++) await stream.append('telemetry', records(`b${i}`, 5, 'dev-a'));
    const p = (await stream.describe('telemetry')).partitions.find((x) => x.endOffset > 0)!;
    const files = readdirSync(join(dir, 'telemetry', String(p.partition))).sort();
    expect(files).toContain('00000000000000000000.log');
    const logs = files.filter((f) => f.endsWith('.log'));
    const idx = files.filter((f) => f.endsWith('.idx'));
    expect(logs.length).toBeGreaterThan(1);
    // Every segment but the active one is sealed with an index.
    expect(idx).toEqual(logs.slice(0, -1).map((f) => f.replace('.log', '.idx')));
    for (const f of logs) expect(f).toMatch(/^\d{20}\.log$/);

    const c = await stream.consumer({ topic: 'telemetry', group: 'lake-delivery' });
    await c.read({ maxWaitMs: 0 });
    await c.commit([{ partition: p.partition, offset: 7 }]);
    const group = JSON.parse(readFileSync(join(dir, 'telemetry', 'groups', 'lake-delivery.json'), 'utf8'));
    expect(group.offsets).toEqual({ [String(p.partition)]: 7 });
    await stream.close();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
  });

  it('refuses a directory another live owner holds, and takes over a stale lock', async () => {
    const dir = scratch('lock');
    const first = await open({ dir });
    await expect(openEmbeddedStream({ dir })).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_LOCKED.is);
    await first.close();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(dir, 'LOCK'), `${dead}\n`);
    const logger = memoryLogger();
    const second = await open({ dir, logger });
    expect(second.health().writable).toBe(true);
    expect(logger.lines.some((l) => l.level === 'warn' && l.obj.pid === dead)).toBe(true);
  });

  it('takes over a lock left with its own pid by an earlier life (a restart given the same pid, as PID 1 in a container)', async () => {
    const dir = scratch('lock-own-pid');
    await (await open({ dir })).close();
    writeFileSync(join(dir, 'LOCK'), `${process.pid}\n`); // as a kill -9 leaves it
    const reopened = await open({ dir });
    expect(reopened.health().writable).toBe(true);
    await expect(openEmbeddedStream({ dir })).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_LOCKED.is);
  });

  it('applies changed retention settings of an existing topic and keeps them, but never its partition count', async () => {
    const dir = scratch('reconfigure');
    const first = await open({ dir });
    await first.ensureTopic('t', { partitions: 2, retentionMs: 3_600_000, retentionBytes: 1 << 20, dedupWindowMs: 60_000 });
    await first.close();
    const logger = memoryLogger();
    const second = await open({ dir, logger });
    const info = await second.ensureTopic('t', { partitions: 8, retentionMs: 7_200_000, retentionBytes: 2 << 20, dedupWindowMs: 30_000 });
    expect(info.config).toEqual({ partitions: 2, retentionMs: 7_200_000, retentionBytes: 2 << 20, dedupWindowMs: 30_000 });
    expect(info.partitions).toHaveLength(2);
    expect(logger.lines.some((l) => l.level === 'warn' && l.obj.requested === 8)).toBe(true);
    await second.close();
    const third = await open({ dir });
    expect((await third.describe('t')).config).toEqual({ partitions: 2, retentionMs: 7_200_000, retentionBytes: 2 << 20, dedupWindowMs: 30_000 });
  });

  it('lets in-flight appends finish on close, then rejects calls', async () => {
    const dir = scratch('close');
    const stream = await open({ dir });
    await stream.ensureTopic('t', { partitions: 4 });
    const inflight = Array.from({ length: 10 }, (_, i) => stream.append('t', records(`c${i}`, 20, `k${i}`)));
    await stream.close();
    const results = await Promise.all(inflight);
    expect(results.reduce((n, r) => n + r.appended, 0)).toBe(200);
    expect(stream.health()).toEqual({ writable: false, reason: 'closed' });
    await expect(stream.read('t', 0, 0)).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_CLOSED.is);
    const reopened = await open({ dir });
    const info = await reopened.describe('t');
    expect(info.partitions.reduce((n, p) => n + p.endOffset, 0)).toBe(200);
  });

  it('keeps the dedup window across a restart', async () => {
    const dir = scratch('dedup');
    const first = await open({ dir });
    await first.ensureTopic('t', { partitions: 2 });
    await first.append('t', records('evt', 10));
    await first.close();
    const second = await open({ dir });
    expect(await second.append('t', [...records('evt', 10), ...records('fresh', 2)])).toEqual({ appended: 2, duplicates: 10 });
  });

  it('forgets ids once the dedup window has passed', async () => {
    let clock = 1_000_000;
    const stream = await open({ dir: scratch('dedup-window'), now: () => clock });
    await stream.ensureTopic('t', { partitions: 1, dedupWindowMs: 1000 });
    await stream.append('t', records('e', 3));
    clock += 500;
    expect(await stream.append('t', records('e', 3))).toEqual({ appended: 0, duplicates: 3 });
    clock += 1001;
    expect(await stream.append('t', records('e', 3))).toEqual({ appended: 3, duplicates: 0 });
  });

  it('rolls segments by age as well as by size', async () => {
    let clock = 1_000_000;
    const dir = scratch('roll-age');
    const stream = await open({ dir, now: () => clock, segmentMs: 1000 });
    await stream.ensureTopic('t', { partitions: 1 });
    await stream.append('t', records('a', 5));
    clock += 500;
    await stream.append('t', records('b', 5));
    expect(readdirSync(join(dir, 't', '0')).filter((f) => f.endsWith('.log'))).toHaveLength(1);
    clock += 600;
    await stream.append('t', records('c', 5));
    expect(readdirSync(join(dir, 't', '0')).sort()).toEqual(['00000000000000000000.idx', '00000000000000000000.log', '00000000000000000010.log']);
    expect((await readPartition(stream, 't')).map((r) => r.offset)).toEqual(Array.from({ length: 15 }, (_, i) => i));
  });

  it('serves old records from disk through the index once the tail cache has moved on', async () => {
    const dir = scratch('disk-read');
    const stream = await open({ dir, segmentBytes: 4096, tailCacheBytes: 2048 });
    await stream.ensureTopic('t', { partitions: 1 });
    for (let i = 0; i < 40; i++) await stream.append('t', records(`b${i}`, 10));
    const all = await readPartition(stream, 't');
    expect(all).toHaveLength(400);
    expect(all.map((r) => r.id)).toEqual(Array.from({ length: 40 }, (_, b) => Array.from({ length: 10 }, (_, i) => `b${b}-${i}`)).flat());
    const middle = await stream.read('t', 0, 123, { maxRecords: 3 });
    expect(middle.map((r) => [r.offset, r.id])).toEqual([
      [123, 'b12-3'],
      [124, 'b12-4'],
      [125, 'b12-5'],
    ]);
  });

  it('rejects with STRATA_ERR_STREAM_FULL when too many bytes wait for fsync, writing nothing', async () => {
    const stream = await open({ dir: scratch('pending'), maxPendingBytes: 4096 });
    await stream.ensureTopic('t', { partitions: 1 });
    const big = records('big', 100, 'k', 100);
    await expect(stream.append('t', big)).rejects.toSatisfy(
      (e: unknown) => streamErrors.STRATA_ERR_STREAM_FULL.is(e) && /too many writes pending/.test(e.message),
    );
    expect((await stream.describe('t')).partitions[0]!.endOffset).toBe(0);
    expect(await stream.append('t', records('small', 10))).toEqual({ appended: 10, duplicates: 0 });
  });

  it('rejects bad records and bad options with 4xx errors before writing anything', async () => {
    const stream = await open({ dir: scratch('bad') });
    await stream.ensureTopic('t', { partitions: 1 });
    const bad = [...records('ok', 2), { key: 'k'.repeat(70_000), value: new Uint8Array(1) }];
    await expect(stream.append('t', bad)).rejects.toSatisfy((e: unknown) => streamErrors.STRATA_ERR_STREAM_BAD_RECORD.is(e) && e.statusCode === 400);
    expect((await stream.describe('t')).partitions[0]!.endOffset).toBe(0);
    await expect(stream.ensureTopic('u', { partitions: 0 })).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_BAD_CONFIG.is);
    await expect(stream.consumer({ topic: 't', group: '../escape' })).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_BAD_CONFIG.is);
    await expect(openEmbeddedStream({ dir: scratch('bad-opt'), segmentBytes: -1 })).rejects.toSatisfy(streamErrors.STRATA_ERR_STREAM_BAD_CONFIG.is);
  });
});
