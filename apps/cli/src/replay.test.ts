import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededDataDir } from '@strata/db/testing';
import { hourPath, type ReplayReport } from '@strata/lake';
import { openEmbeddedStream, type StreamRecord } from '@strata/stream';
import { startServerProcess } from '@strata/testkit';
import { strata } from './test-support.js';

const T0 = Date.UTC(2025, 11, 4, 10);
const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();

const data = await seededDataDir('cli-replay');
beforeAll(() => {
  // One raw object of 10:00–10:59: devices a and b, one event a minute each, and a bad line.
  const lines = ['not json'];
  for (let m = 0; m < 60; m++) for (const d of ['a', 'b']) lines.push(JSON.stringify({ id: `${d}-${m}`, device: d, ts: at(m), metrics: { temp: m }, received_at: at(m), source: 'http' }));
  const path = join(data.dir, 'lake', 'raw', 'telemetry', hourPath(T0), 'telemetry-0-0-120.ndjson.gz');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, gzipSync(lines.join('\n') + '\n'));
});
afterAll(() => data.remove());

async function streamRecords(): Promise<StreamRecord[]> {
  const stream = await openEmbeddedStream({ dir: join(data.dir, 'stream') });
  try {
    const out: StreamRecord[] = [];
    for (const p of (await stream.describe('telemetry')).partitions) out.push(...(await stream.read('telemetry', p.partition, 0, { maxRecords: 10_000 })));
    return out;
  } finally {
    await stream.close();
  }
}

describe('strata replay', () => {
  it('never shows the admin key of the environment in --help', async () => {
    const res = await strata(['replay', '--help'], { STRATA_ADMIN_KEY: 'sk_do_not_print_me' });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('--admin-key');
    expect(res.stdout + res.stderr).not.toContain('sk_do_not_print_me');
  });

  it('re-publishes the window to the data dir stream with the server stopped; again appends nothing', async () => {
    const args = ['replay', '--from', 'raw', '--since', at(10), '--until', at(20), '--devices', 'a', '--data', data.dir];
    const res = await strata([...args, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ objects: 1, events: 10, appended: 10, duplicates: 0, skipped: 110, invalid: 1, unreadable: 0 });
    expect(res.stderr).toMatch(/"level":40.*invalid lines/);
    const records = await streamRecords();
    expect(records.map((r) => r.id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `a-${i + 10}`).sort());
    for (const r of records) expect(JSON.parse(r.value.toString())).toMatchObject({ id: r.id, device: 'a', replay: true });

    const again = await strata(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^replayed 10 events from 1 raw objects: 0 appended, 10 already in the stream$/m);
    expect(await streamRecords()).toHaveLength(10);
  });

  it.each([
    [['--since', 'yesterday'], /--since: "yesterday" is not an RFC 3339 time/],
    [['--since', at(20), '--until', at(10)], /--until: must be after since/],
    [['--since', at(0), '--from', 'bronze'], /--from bronze: only raw/],
  ])('refuses %j with exit 2', async (extra, message) => {
    const res = await strata(['replay', '--from', 'raw', ...extra, '--data', data.dir]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
  });

  it('with the server running, points to --url, and replays through it', async () => {
    const server = await startServerProcess(['--data', data.dir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn' });
    try {
      const locked = await strata(['replay', '--from', 'raw', '--since', at(0), '--data', data.dir]);
      expect(locked.code).toBe(2);
      expect(locked.stderr).toMatch(/a running server holds .*stream: replay through it with --url URL --admin-key KEY/);

      const adminKey = readFileSync(join(data.dir, 'admin.key'), 'utf8').trim();
      const remote = await strata(['replay', '--from', 'raw', '--since', at(0), '--until', at(30), '--devices', 'b', '--url', server.url, '--json'], { STRATA_ADMIN_KEY: adminKey });
      expect(remote.code, remote.stderr).toBe(0);
      expect(JSON.parse(remote.stdout) as ReplayReport).toMatchObject({ events: 30, appended: 30, duplicates: 0 });

      const bad = await strata(['replay', '--from', 'raw', '--since', at(0), '--until', at(0), '--url', server.url], { STRATA_ADMIN_KEY: adminKey });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/must be after since/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
