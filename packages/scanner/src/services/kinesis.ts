/** Kinesis Data Streams: encryption at rest and shard-level metrics. */
import { DescribeStreamSummaryCommand, KinesisClient, ListStreamsCommand, type StreamDescriptionSummary } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ResourceRef } from '../types.js';
import { mapLimit, Results, type ServiceScanner } from './service.js';

export interface KinesisSnapshot {
  streams: StreamDescriptionSummary[];
}

export const kinesisScanner: ServiceScanner<KinesisSnapshot> = {
  service: 'kinesis',
  scope: 'regional',
  checks: ['kinesis.stream_encrypted', 'kinesis.stream_enhanced_monitoring'],

  async collect({ conn, region, concurrency }) {
    // The Kinesis client speaks HTTP/2 by default, which an emulator's plain-HTTP endpoint does not.
    const kinesis = conn.client('kinesis', region, (c) => new KinesisClient({ ...c, ...(c.endpoint !== undefined && { requestHandler: new NodeHttpHandler(c.requestHandler) }) }));
    const names: string[] = [];
    let more = true;
    let start: string | undefined;
    while (more) {
      const out = await kinesis.send(new ListStreamsCommand({ Limit: 100, ...(start !== undefined && { ExclusiveStartStreamName: start }) }));
      names.push(...(out.StreamNames ?? []));
      more = out.HasMoreStreams === true && (out.StreamNames?.length ?? 0) > 0;
      start = names[names.length - 1];
    }
    const streams = await mapLimit(names, concurrency, async (StreamName) => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName }))).StreamDescriptionSummary);
    return { streams: streams.filter((s): s is StreamDescriptionSummary => s !== undefined) };
  },

  evaluate(s, { region, target }) {
    const out = new Results();
    for (const st of s.streams) {
      const name = st.StreamName ?? '?';
      const ref: ResourceRef = { uid: st.StreamARN ?? `arn:${target.partition}:kinesis:${region}:${target.accountId}:stream/${name}`, type: 'AWS::Kinesis::Stream', name, region };
      const enc = st.EncryptionType ?? 'NONE';
      out.check('kinesis.stream_encrypted', ref, enc === 'KMS', `encryption ${enc}`);
      const metrics = (st.EnhancedMonitoring ?? []).flatMap((m) => m.ShardLevelMetrics ?? []);
      out.check('kinesis.stream_enhanced_monitoring', ref, metrics.length > 0, metrics.length > 0 ? `shard metrics: ${metrics.join(', ')}` : 'no shard-level metrics');
    }
    return out.done();
  },
};
