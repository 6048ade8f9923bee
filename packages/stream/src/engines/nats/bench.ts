/**
 * Benchmark of the NATS engine (not a test): appends RECORDS records of ~150 bytes in batches of
 * 500 from CALLERS concurrent callers onto an 8-partition topic, then reads them all back with
 * one consumer-group member (maxRecords 1000) and with replay reads of one partition. Starts its
 * own nats-server (R1, temp dir) unless NATS servers are given. Prints human lines and a JSON line.
 *
 *   node --import tsx packages/stream/src/engines/nats/bench.ts [records] [callers] [nats://host:port,...]
 */
import { startNats } from '@strata/testkit';
import type { AppendRecord } from '../../types.js';
import { openNatsStream } from './engine.js';

const TOTAL = Number(process.argv[2] ?? 200_000);
const CALLERS = Number(process.argv[3] ?? 8);
const given = process.argv[4]?.split(',');
const PARTITIONS = 8;
const BATCH = 500;
const DEVICES = 10_000;

const nats = given ? null : await startNats();
const stream = await openNatsStream({ servers: given ?? nats!.servers, prefix: `bench${Date.now()}_` });
try {
  await stream.ensureTopic('telemetry', { partitions: PARTITIONS, retentionBytes: 1024 ** 3 });

  const values = Array.from({ length: 1000 }, (_, i) =>
    Buffer.from(JSON.stringify({ device: `sensor-${i}`, ts: 1_700_000_000_000 + i, metrics: { temperature: 21.5 + i / 100, humidity: 40.25, battery: 3.71 }, source: 'http' }).padEnd(150, ' ')),
  );
  let next = 0;
  const batch = (): AppendRecord[] | null => {
    if (next >= TOTAL) return null;
    const n = Math.min(BATCH, TOTAL - next);
    const out: AppendRecord[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const seq = next + i;
      out[i] = { key: `sensor-${seq % DEVICES}`, id: `evt-${seq}`, value: values[seq % values.length]!, ts: 1_700_000_000_000 + seq };
    }
    next += n;
    return out;
  };

  let t = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      for (let b = batch(); b; b = batch()) await stream.append('telemetry', b);
    }),
  );
  const appendSeconds = Number(process.hrtime.bigint() - t) / 1e9;
  const info = await stream.describe('telemetry');
  const stored = info.partitions.reduce((n, p) => n + p.endOffset, 0);

  t = process.hrtime.bigint();
  const consumer = await stream.consumer({ topic: 'telemetry', group: 'bench' });
  let consumed = 0;
  while (consumed < stored) {
    const records = await consumer.read({ maxRecords: 1000, maxWaitMs: 2000 });
    if (records.length === 0) break;
    consumed += records.length;
  }
  const consumeSeconds = Number(process.hrtime.bigint() - t) / 1e9;
  await consumer.close();

  const biggest = info.partitions.reduce((a, b) => (b.endOffset > a.endOffset ? b : a));
  t = process.hrtime.bigint();
  let replayed = 0;
  for (let offset = 0; ; ) {
    const records = await stream.read('telemetry', biggest.partition, offset, { maxRecords: 1000 });
    if (records.length === 0) break;
    replayed += records.length;
    offset = records[records.length - 1]!.offset + 1;
  }
  const replaySeconds = Number(process.hrtime.bigint() - t) / 1e9;

  const result = {
    bench: 'stream.nats',
    records: TOTAL,
    stored,
    partitions: PARTITIONS,
    batch: BATCH,
    callers: CALLERS,
    appendSeconds: Number(appendSeconds.toFixed(3)),
    appendRecordsPerSecond: Math.round(TOTAL / appendSeconds),
    consumed,
    consumeRecordsPerSecond: Math.round(consumed / consumeSeconds),
    replayed,
    replayRecordsPerSecond: Math.round(replayed / replaySeconds),
  };
  console.log(`append  ${result.appendRecordsPerSecond.toLocaleString('en')} records/s (${stored} stored in ${result.appendSeconds} s)`);
  console.log(`consume ${result.consumeRecordsPerSecond.toLocaleString('en')} records/s (one group member, ${consumed} records)`);
  console.log(`replay  ${result.replayRecordsPerSecond.toLocaleString('en')} records/s (read() of one partition, ${replayed} records)`);
  console.log(JSON.stringify(result));
} finally {
  await stream.close();
  await nats?.close();
}
