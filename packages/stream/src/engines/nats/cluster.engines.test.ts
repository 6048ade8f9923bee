import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, type NatsServers } from '@strata/testkit';
import { streamErrors } from '../../errors.js';
import type { AppendRecord } from '../../types.js';
import { openNatsStream } from './engine.js';
import { partitionStream } from './names.js';
import { readAll, until } from './test-support.js';

describe('nats stream on a 3-node cluster, 3 replicas', () => {
  let cluster: NatsServers;
  beforeAll(async () => {
    cluster = await startNats({ cluster: 3 });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('keeps every acknowledged record exactly once while the stream leader is killed and restarted', async () => {
    const prefix = 'ha_';
    const s = await openNatsStream({ servers: cluster.servers, replicas: 3, prefix, publishTimeoutMs: 2_000, requestTimeoutMs: 2_000, leaseMs: 5_000 });
    try {
      await s.ensureTopic('faults', { partitions: 2 });
      const nc = await connect({ servers: cluster.servers });
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(partitionStream(prefix, 'faults', 0))).config.num_replicas).toBe(3);
      expect((await jsm.streams.info(`KV_${prefix}offsets`)).config.num_replicas).toBe(3);
      await nc.close();

      // A group member reads (and commits) through the whole fault: it must see every record.
      const reader = await s.consumer({ topic: 'faults', group: 'audit' });
      const seen = new Set<string>();
      let reading = true;
      const readLoop = (async () => {
        while (reading) {
          const records = await reader.read({ maxRecords: 500, maxWaitMs: 200 }).catch(() => []);
          for (const r of records) seen.add(r.id!);
          const next = new Map<number, number>();
          for (const r of records) next.set(r.partition, r.offset + 1);
          await reader.commit([...next].map(([partition, offset]) => ({ partition, offset }))).catch(() => undefined);
        }
      })();

      const acked = new Set<string>();
      const failed: AppendRecord[][] = [];
      const errors = new Set<string>();
      let writing = true;
      let n = 0;
      const value = Buffer.from('x'.repeat(100));
      const writers = [0, 1, 2, 3].map(async (w) => {
        while (writing) {
          const batch = Array.from({ length: 50 }, (_, i) => ({ key: `dev-${i % 10}`, id: `w${w}-${n++}`, value }));
          try {
            await s.append('faults', batch);
            for (const r of batch) acked.add(r.id);
          } catch (err) {
            // The outcome is unknown (may be partly stored): the caller retries with the same ids.
            errors.add((err as { code?: string }).code ?? String(err));
            failed.push(batch);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      });

      await until('appends before the fault', () => acked.size >= 2_000);
      const leader = await until('a stream leader', () => cluster.streamLeader(partitionStream(prefix, 'faults', 0)));
      await cluster.kill(leader);
      const atKill = acked.size;
      const successor = await until('a new stream leader', () => cluster.streamLeader(partitionStream(prefix, 'faults', 0)));
      expect(successor).not.toBe(leader);
      await until('appends after a new leader was elected', () => acked.size >= atKill + 2_000);
      await cluster.start(leader);
      const atRestart = acked.size;
      await until('appends after the old leader rejoined', () => acked.size >= atRestart + 1_000);
      writing = false;
      await Promise.all(writers);
      for (const batch of failed) {
        await until('a retried append to succeed', () => s.append('faults', batch).then(() => true, () => false));
      }

      // Only 503-class errors (IO, or CLOSED/FULL) may have been seen by the writers.
      for (const code of errors) expect([streamErrors.STRATA_ERR_STREAM_IO.code, streamErrors.STRATA_ERR_STREAM_FULL.code]).toContain(code);
      const all = await readAll(s, 'faults');
      const counts = new Map<string, number>();
      for (const r of all) counts.set(r.id!, (counts.get(r.id!) ?? 0) + 1);
      expect([...counts.values()].filter((c) => c !== 1)).toEqual([]);
      for (const id of acked) expect(counts.has(id)).toBe(true);
      const attempted = new Set([...acked, ...failed.flat().map((r) => r.id!)]);
      expect(counts.size).toBe(attempted.size);
      for (const p of [0, 1]) {
        const offsets = all.filter((r) => r.partition === p).map((r) => r.offset);
        expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i));
      }
      await until('the group member to have read every record', () => seen.size === attempted.size);
      reading = false;
      await readLoop;
    } finally {
      await s.close();
    }
  });
});
