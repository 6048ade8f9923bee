import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestErrors } from '../../errors.js';
import { Coalescer } from './coalesce.js';
import type { MessageIn, MqttIngest } from './message.js';
import { ingestFixture, type IngestFixture } from './test-support.js';

let fx: IngestFixture;
beforeAll(async () => {
  fx = await ingestFixture();
});
afterAll(async () => {
  await fx.close();
});

/** The real service, counting its calls. */
function counting(ingest: MqttIngest): MqttIngest & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    ingestBody: (body, contentType, writer, source) => {
      calls.push(String(contentType));
      return ingest.ingestBody(body, contentType, writer, source);
    },
  };
}

const msg = (device: string, payload: string, messageId: number): MessageIn => ({ topic: `devices/${device}/telemetry`, device, payload: Buffer.from(payload), messageId });

describe('Coalescer', () => {
  it('ingests the one-event messages of a device that arrive together with one call', async () => {
    const ingest = counting(fx.ingest);
    const c = new Coalescer(ingest, 1024);
    const outcomes = await Promise.all([1, 2, 3].map((i) => c.submit(msg('co-1', `{"sensorId":"co-1","x":${i}}`, i))));
    expect(outcomes.map((o) => o.kind)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(ingest.calls).toEqual(['application/x-ndjson']);
    expect((await fx.events()).filter((e) => e.device === 'co-1').map((e) => e.metrics.x)).toEqual([1, 2, 3]);
  });

  it('answers each message on its own when the batch is refused: the good ones are still accepted', async () => {
    const ingest = counting(fx.ingest);
    const c = new Coalescer(ingest, 1024);
    const outcomes = await Promise.all([
      c.submit(msg('co-2', '{"sensorId":"co-2","x":1}', 1)),
      c.submit(msg('co-2', '{"sensorId":"co-2","x":"bad"}', 2)),
      c.submit(msg('co-2', '{"sensorId":"co-9","x":3}', 3)),
      c.submit(msg('co-2', '{"sensorId":"co-2","x":4}', 4)),
    ]);
    expect(outcomes.map((o) => (o.kind === 'refused' ? `${o.reason}:${o.report.messageId}` : o.kind))).toEqual(['accepted', 'invalid:2', 'forbidden_device:3', 'accepted']);
    expect(ingest.calls).toHaveLength(5); // the batch, then each alone
    expect((await fx.events()).filter((e) => e.device === 'co-2').map((e) => e.metrics.x)).toEqual([1, 4]);
  });

  it('sends arrays, several lines, MQTT 5 content types and other devices alone or in their own batch', async () => {
    const ingest = counting(fx.ingest);
    const c = new Coalescer(ingest, 1024);
    await Promise.all([
      c.submit(msg('co-3', '[{"sensorId":"co-3","x":1}]', 1)),
      c.submit(msg('co-3', '{"sensorId":"co-3","x":2}\n{"sensorId":"co-3","x":3}', 2)),
      c.submit({ ...msg('co-3', '{"sensorId":"co-3","x":4}', 3), contentType: 'application/json' }),
      c.submit(msg('co-4', '{"sensorId":"co-4","x":5}', 4)),
      c.submit(msg('co-3', '{"sensorId":"co-3","x":6}', 5)),
    ]);
    // Five calls: the one qualifying co-3 message has no partner, so it goes alone too.
    expect(ingest.calls.sort()).toEqual(['application/json', 'application/json', 'application/json', 'application/json', 'application/x-ndjson']);
    expect((await fx.events()).filter((e) => e.device === 'co-3')).toHaveLength(5);
  });

  it('gives every message of a batch the 503 when Strata cannot take it', async () => {
    const down: MqttIngest = { ingestBody: () => Promise.reject(ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: 'stream full' })) };
    const c = new Coalescer(down, 1024);
    const outcomes = await Promise.all([1, 2].map((i) => c.submit(msg('co-5', `{"sensorId":"co-5","x":${i}}`, i))));
    expect(outcomes.map((o) => o.kind)).toEqual(['unavailable', 'unavailable']);
  });
});
