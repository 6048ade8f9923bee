/**
 * The embedded stream on a disk that really fills up: DATA/stream is a 24 MiB tmpfs (needs root).
 * While it is full, ingest answers 503 (with Retry-After) and /ready says why; once space comes
 * back, ingest accepts again, and every acknowledged event reaches the raw zone exactly once.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openLocalStore } from '@strata/storage';
import { seededDataDir } from '@strata/db/testing';
import { countBy, readRawZone, startServerProcess, type ServerProcess } from '@strata/testkit';
import { TELEMETRY_TOPIC } from './platform.js';

let data: { dir: string; remove(): void };
let streamDir: string;
let server: ServerProcess | undefined;

beforeAll(async () => {
  data = await seededDataDir('disk-full');
  streamDir = join(data.dir, 'stream');
  mkdirSync(streamDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', streamDir]);
});

afterAll(async () => {
  if (server) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
  try {
    execFileSync('umount', [streamDir]);
  } finally {
    data.remove();
  }
});

/** Fills the file system holding `dir` up to its last `leaveBytes`. */
function fill(dir: string, leaveBytes: number): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(256 * 1024, 1);
  try {
    for (;;) {
      const { bavail, bsize } = statfsSync(dir);
      const free = bavail * bsize;
      if (free <= leaveBytes) break;
      writeSync(fd, chunk, 0, Math.min(chunk.length, free - leaveBytes));
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

it('answers 503 while the stream disk is full and loses nothing it acknowledged once space returns', async () => {
  server = await startServerProcess(['--data', data.dir, '--no-demo'], {
    STRATA_LOG_LEVEL: 'warn',
    STRATA_STREAM__SEGMENT_BYTES: String(256 * 1024),
    STRATA_DELIVERY__FLUSH_BYTES: '4096',
  });
  const key = readFileSync(join(data.dir, 'admin.key'), 'utf8').trim();
  const acked = new Set<number>();
  let next = 0;
  const send = async (): Promise<Response> => {
    const seqs = Array.from({ length: 100 }, () => next++);
    const res = await fetch(`${server!.url}/v1/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(seqs.map((seq) => ({ device: `dev-${seq % 7}`, metrics: { seq }, tags: { pad: 'x'.repeat(200) } }))),
    });
    if (res.status === 200) for (const s of seqs) acked.add(s);
    return res;
  };

  for (let i = 0; i < 20; i++) expect((await send()).status).toBe(200);
  const filler = fill(streamDir, 64 * 1024);

  let full: Response | undefined;
  for (let i = 0; i < 500 && !full; i++) {
    const res = await send();
    if (res.status !== 200) full = res;
  }
  expect(full?.status).toBe(503);
  expect(full?.headers.get('retry-after')).toBeTruthy();
  expect(((await full!.json()) as { error: { code: string } }).error.code).toBe('STRATA_ERR_INGEST_UNAVAILABLE');
  const ready = await fetch(`${server.url}/ready`);
  expect(ready.status).toBe(503);
  expect(JSON.stringify(await ready.json())).toContain('stream not writable');
  // Still refusing, not crashing: the process answers every request.
  for (let i = 0; i < 5; i++) expect((await send()).status).toBe(503);

  rmSync(filler);
  let recovered = false;
  for (let i = 0; i < 100 && !recovered; i++) {
    recovered = (await send()).status === 200;
    if (!recovered) await new Promise((r) => setTimeout(r, 200));
  }
  expect(recovered).toBe(true);
  for (let i = 0; i < 10; i++) expect((await send()).status).toBe(200);
  // Readiness answers are cached for a second: poll.
  let readyAgain = 0;
  for (let i = 0; i < 50 && readyAgain !== 200; i++) {
    readyAgain = (await fetch(`${server.url}/ready`)).status;
    if (readyAgain !== 200) await new Promise((r) => setTimeout(r, 200));
  }
  expect(readyAgain).toBe(200);

  const flushed = await fetch(`${server.url}/v1/admin/flush`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
  expect(flushed.status).toBe(200);
  server.child.kill('SIGTERM');
  await server.exited;
  server = undefined;

  const store = await openLocalStore({ root: join(data.dir, 'lake') });
  const lines = await readRawZone(store, TELEMETRY_TOPIC).finally(() => store.close());
  const counts = countBy(lines, (l) => String((l.event.metrics as { seq: number }).seq));
  const missing = [...acked].filter((s) => !counts.has(String(s)));
  const doubled = [...counts].filter(([, n]) => n > 1);
  expect(missing).toEqual([]);
  expect(doubled).toEqual([]);
});
