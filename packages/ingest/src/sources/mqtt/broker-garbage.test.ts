/**
 * Garbage into the embedded broker: random payloads through a real client, random bytes on raw
 * sockets. The broker must never crash or drop well-behaved clients, and every QoS 1 message
 * must end in a PUBACK and either durable events or an error report.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { startMqttBroker, type MqttBroker } from './broker.js';
import { authenticate, connectDevice, countingObserver, inbox, ingestFixture, type IngestFixture } from './test-support.js';

let fx: IngestFixture;
let broker: MqttBroker;
let url: string;
const observer = countingObserver();
let device: MqttClient;
let reports: ReturnType<typeof inbox>;
let bystander: MqttClient;

beforeAll(async () => {
  fx = await ingestFixture();
  broker = await startMqttBroker({ ingest: fx.ingest, authenticate, port: 0, observer, maxPayloadBytes: 8 * 1024 });
  url = `mqtt://127.0.0.1:${broker.port}`;
  device = await connectDevice(url, 'junk-1');
  reports = inbox(device);
  await device.subscribeAsync('devices/junk-1/errors', { qos: 1 });
  bystander = await connectDevice(url, 'junk-bystander');
});
afterAll(async () => {
  device.end(true);
  bystander.end(true);
  await broker.close();
  await fx.close();
});

/** Payloads from plausible to hostile: events with wrong bits, any JSON, any text, any bytes, big ones. */
const payloadArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.record({ sensorId: fc.constantFrom('junk-1', 'junk-2', ''), temperature: fc.oneof(fc.double(), fc.string(), fc.constant(null)), timestamp: fc.oneof(fc.string(), fc.integer(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())) }, { requiredKeys: [] }).map((o) => Buffer.from(JSON.stringify(o))),
  fc.json().map((s) => Buffer.from(s)),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.array(fc.constantFrom('{', '}', '[', ']', '"bn"', ':', ',', '\n', '"sensorId"', '"junk-1"', '1', 'true', '\ufeff', '\\'), { maxLength: 60 }).map((a) => Buffer.from(a.join(''))),
  fc.integer({ min: 8 * 1024 - 16, max: 40 * 1024 }).map((n) => Buffer.alloc(n, 0x5b)),
);

describe('embedded MQTT broker under garbage', () => {
  it('answers every random QoS 1 payload with a PUBACK and either durable events or an error report', async () => {
    await fc.assert(
      fc.asyncProperty(payloadArb, async (payload) => {
        const before = { accepted: observer.accepted_, events: (await fx.events()).length };
        const ack = await device.publishAsync('devices/junk-1/telemetry', payload, { qos: 1 });
        if (observer.accepted_ > before.accepted) {
          expect((await fx.events()).length).toBeGreaterThan(before.events);
        } else {
          const report = await reports.next('devices/junk-1/errors', (r) => r.messageId === ack?.messageId);
          expect(report.code).toMatch(/^STRATA_ERR_/);
          expect(report.bytes).toBe(payload.length);
          expect((await fx.events()).length).toBe(before.events);
        }
      }),
      { numRuns: 100 },
    );
    expect(device.connected && bystander.connected).toBe(true);
  });

  it('survives random bytes on raw connections, before and after a valid CONNECT', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.boolean(), async (bytes, afterConnect) => {
        await new Promise<void>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port: broker.port });
          socket.on('error', () => undefined);
          socket.resume(); // read (and drop) whatever the broker answers, so its FIN is seen
          socket.once('close', () => resolve());
          socket.once('connect', () => {
            if (afterConnect) socket.write(connectPacket('junk-raw', 'key-junk-raw'));
            socket.write(bytes);
            socket.end(); // the broker may also close first, on a protocol error
          });
        });
      }),
      { numRuns: 60 },
    );
    await bystander.publishAsync('devices/junk-bystander/telemetry', '{"sensorId":"junk-bystander","x":1}', { qos: 1 });
    expect((await fx.events()).some((e) => e.device === 'junk-bystander')).toBe(true);
    expect(bystander.connected).toBe(true);
  });
});

/** An MQTT 3.1.1 CONNECT with username and password, clean session, keepalive 60. */
function connectPacket(username: string, password: string): Buffer {
  const str = (s: string): Buffer => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0b1100_0010, 0, 60]), str(`raw-${Math.random().toString(16).slice(2)}`), str(username), str(password)]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}
