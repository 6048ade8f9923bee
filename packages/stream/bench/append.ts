/**
 * Append micro-benchmark of the embedded stream (not a test): 1,000,000 records of ~150 bytes,
 * in batches of 500, from 32 concurrent callers, onto an 8-partition topic in a temp directory.
 * Prints a human line and a JSON line (records/s, MB/s of record values).
 *
 *   node --import tsx packages/stream/bench/append.ts [records] [partitions]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedStream, type AppendRecord } from '../src/index.js';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const PARTITIONS = Number(process.argv[3] ?? 8);
const BATCH = 500;
const CALLERS = 32;
const DEVICES = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'strata-stream-bench-'));
const stream = await openEmbeddedStream({ dir });
await stream.ensureTopic('telemetry', { partitions: PARTITIONS });

// ~150-byte JSON values like ingest produces; built up front so the run measures the stream.
const values = Array.from({ length: 1000 }, (_, i) =>
  Buffer.from(JSON.stringify({ device: `sensor-${i}`, ts: 1_700_000_000_000 + i, metrics: { temperature: 21.5 + i / 100, humidity: 40.25, battery: 3.71 }, source: 'http' }).padEnd(150, ' ')),
);
let next = 0;
let valueBytes = 0;
function batch(): AppendRecord[] | null {
  if (next >= TOTAL) return null;
  const n = Math.min(BATCH, TOTAL - next);
  const out: AppendRecord[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const seq = next + i;
    const value = values[seq % values.length]!;
    valueBytes += value.length;
    out[i] = { key: `sensor-${seq % DEVICES}`, id: `evt-${seq}`, value, ts: 1_700_000_000_000 + seq };
  }
  next += n;
  return out;
}

const started = process.hrtime.bigint();
await Promise.all(
  Array.from({ length: CALLERS }, async () => {
    for (let b = batch(); b; b = batch()) await stream.append('telemetry', b);
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const info = await stream.describe('telemetry');
const stored = info.partitions.reduce((n, p) => n + p.endOffset, 0);
await stream.close();
rmSync(dir, { recursive: true, force: true });

const result = {
  bench: 'stream.embedded.append',
  records: TOTAL,
  stored,
  partitions: PARTITIONS,
  batch: BATCH,
  callers: CALLERS,
  seconds: Number(seconds.toFixed(3)),
  recordsPerSecond: Math.round(TOTAL / seconds),
  mbPerSecond: Number((valueBytes / seconds / 1e6).toFixed(1)),
};
console.log(`${result.recordsPerSecond.toLocaleString('en')} records/s, ${result.mbPerSecond} MB/s of values (${stored} stored in ${result.seconds} s)`);
console.log(JSON.stringify(result));
