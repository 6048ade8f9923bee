/**
 * The MQTT bridge against a real mosquitto 2.0 (test kit), with the ACL the README asks for:
 * the bridge user reads devices/+/telemetry and writes devices/+/errors; each device writes
 * only devices/{its username}/telemetry and reads devices/{its username}/errors.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { StrataError } from '@strata/core';
import { startMosquitto, type MosquittoServer } from '@strata/testkit';
import { ingestErrors } from '../../errors.js';
import { startMqttBridge, type MqttBridge, type MqttBridgeOptions } from './bridge.js';
import type { MqttIngest } from './message.js';
import { countingObserver, inbox, ingestFixture, type IngestFixture } from './test-support.js';

const DEVICES = ['dev-1', 'dev-2', 'dev-3'];
const BRIDGE = { username: 'strata-bridge', password: 'bridge-secret' };
let mosquitto: MosquittoServer;
let fx: IngestFixture;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  mosquitto = await startMosquitto({
    users: { [BRIDGE.username]: BRIDGE.password, ...Object.fromEntries(DEVICES.map((d) => [d, `${d}-secret`])) },
    acl: [
      `user ${BRIDGE.username}`,
      'topic read devices/+/telemetry',
      'topic write devices/+/errors',
      '',
      'pattern write devices/%u/telemetry',
      'pattern read devices/%u/errors',
    ],
  });
});
afterAll(async () => {
  await mosquitto.close();
});
beforeEach(async () => {
  fx = await ingestFixture();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await fx.close();
});

let groups = 0;
/** A bridge member; every test gets its own group, so members of other tests never take its messages. */
async function bridge(opts: Partial<MqttBridgeOptions> & { group: string }): Promise<MqttBridge> {
  const b = await startMqttBridge({ ingest: fx.ingest, url: mosquitto.url, clientId: `${opts.group}-member`, reconnectPeriodMs: 50, ...BRIDGE, ...opts });
  cleanups.push(() => b.close());
  return b;
}
const newGroup = (): string => `g${++groups}-${process.pid}`;

async function device(id: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(mosquitto.url, { username: id, password: `${id}-secret`, reconnectPeriod: 0, ...extra });
  cleanups.push(() => c.endAsync(true));
  return c;
}

async function publish(c: MqttClient, id: string, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) await c.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ id: `${id}-${i}`, sensorId: id, seq: i }), { qos: 1 });
}

const eventsOf = async (id: string) => (await fx.events()).filter((e) => e.device === id);

describe('MQTT bridge from mosquitto', () => {
  it('ingests telemetry with the device from the topic and the MQTT 5 content type when given', async () => {
    const observer = countingObserver();
    await bridge({ group: newGroup(), observer });
    const d = await device('dev-1');
    await publish(d, 'dev-1', 3);
    const v5 = await device('dev-2', { protocolVersion: 5 });
    // One NDJSON line: JSON too when sniffed; the property says NDJSON.
    await v5.publishAsync('devices/dev-2/telemetry', '{"sensorId":"dev-2","x":1}\n', { qos: 1, properties: { contentType: 'application/x-ndjson' } });
    await vi.waitFor(async () => expect(await fx.events()).toHaveLength(4));
    expect((await eventsOf('dev-1')).map((e) => e.metrics.seq).sort()).toEqual([0, 1, 2]);
    expect(await eventsOf('dev-2')).toEqual([expect.objectContaining({ metrics: { x: 1 }, source: 'mqtt' })]);
    expect(observer).toMatchObject({ accepted_: 4, events: 4 });
  });

  it('reports bad payloads on devices/{id}/errors and acknowledges them: they are not delivered again', async () => {
    const group = newGroup();
    const first = countingObserver();
    const b1 = await bridge({ group, observer: first });
    const d = await device('dev-1', { protocolVersion: 5 });
    const box = inbox(d);
    await d.subscribeAsync('devices/dev-1/errors', { qos: 1 });
    await d.publishAsync('devices/dev-1/telemetry', Buffer.from([0xde, 0xad, 0xbe, 0xef]), { qos: 1 });
    expect(await box.next('devices/dev-1/errors')).toMatchObject({ code: 'STRATA_ERR_INGEST_INVALID', topic: 'devices/dev-1/telemetry', bytes: 4 });
    await d.publishAsync('devices/dev-1/telemetry', '{"sensorId":"dev-1","x":1}', { qos: 1, properties: { contentType: 'text/plain' } });
    expect(await box.next('devices/dev-1/errors')).toMatchObject({ code: 'STRATA_ERR_INGEST_MEDIA_TYPE', status: 415 });
    await d.publishAsync('devices/dev-1/telemetry', '{"sensorId":"dev-9","x":1}', { qos: 1 });
    expect(await box.next('devices/dev-1/errors')).toMatchObject({ code: 'STRATA_ERR_AUTH_FORBIDDEN_DEVICE' });
    expect(first.rejected_).toEqual({ invalid: 1, media_type: 1, forbidden_device: 1 });

    // Restart the member: only the good message that follows arrives.
    await b1.close();
    const second = countingObserver();
    await bridge({ group, observer: second });
    await publish(d, 'dev-1', 1);
    await vi.waitFor(() => expect(second.accepted_).toBe(1));
    expect(second.rejected_).toEqual({});
    expect(await eventsOf('dev-1')).toHaveLength(1);
  });

  it('relies on the broker ACL: a device cannot write another device topic', async () => {
    await bridge({ group: newGroup() });
    const d = await device('dev-1');
    await d.publishAsync('devices/dev-2/telemetry', '{"sensorId":"dev-2","x":1}', { qos: 1 }); // mosquitto acknowledges and drops it
    await publish(d, 'dev-1', 1);
    await vi.waitFor(async () => expect(await eventsOf('dev-1')).toHaveLength(1));
    expect(await eventsOf('dev-2')).toEqual([]);
  });

  it('ingests what was published while the bridge was down, when it comes back (persistent session)', async () => {
    const group = newGroup();
    const b = await bridge({ group });
    await b.close();
    const d = await device('dev-1');
    await publish(d, 'dev-1', 20);
    expect(await fx.events()).toEqual([]);
    await bridge({ group });
    await vi.waitFor(async () => expect(await eventsOf('dev-1')).toHaveLength(20));
  });

  it('splits messages between members of one group: each is ingested once', async () => {
    const group = newGroup();
    const a = countingObserver();
    const b = countingObserver();
    await bridge({ group, clientId: `${group}-a`, observer: a });
    await bridge({ group, clientId: `${group}-b`, observer: b });
    const d1 = await device('dev-1');
    const d2 = await device('dev-2');
    await Promise.all([publish(d1, 'dev-1', 50), publish(d2, 'dev-2', 50)]);
    await vi.waitFor(() => expect(a.accepted_ + b.accepted_).toBe(100));
    expect(a.accepted_).toBeGreaterThan(0);
    expect(b.accepted_).toBeGreaterThan(0);
    const events = await fx.events();
    expect(events).toHaveLength(100);
    expect(new Set(events.map((e) => e.id)).size).toBe(100);
  });

  it('holds a stopped member share for it; a member that leaves hands its share to the others', async () => {
    const group = newGroup();
    const a = countingObserver();
    const b = countingObserver();
    const memberA = await bridge({ group, clientId: `${group}-a`, observer: a });
    const memberB = await bridge({ group, clientId: `${group}-b`, observer: b });
    const d = await device('dev-1');
    // B stops (a restart, say): its share waits in its session, then comes in when it is back.
    await memberB.close();
    await publish(d, 'dev-1', 10);
    await vi.waitFor(() => expect(a.accepted_).toBe(5));
    await bridge({ group, clientId: `${group}-b`, observer: b });
    await vi.waitFor(async () => expect(await eventsOf('dev-1')).toHaveLength(10));
    // A leaves for good: from then on B gets everything.
    await memberA.close({ leave: true });
    const before = b.accepted_;
    await publish(d, 'dev-1', 10, 10);
    await vi.waitFor(() => expect(b.accepted_ - before).toBe(10));
    expect(await eventsOf('dev-1')).toHaveLength(20);
  });

  it('delivers again what a killed (SIGKILL) member had received but not acknowledged', async () => {
    const group = newGroup();
    const clientId = `${group}-member`;
    const fixture = fileURLToPath(new URL('./fixtures/hanging-bridge.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, mosquitto.url, clientId, group, BRIDGE.username, BRIDGE.password], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    let received = 0;
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    let allIn!: () => void;
    const allReceived = new Promise<void>((resolve) => (allIn = resolve));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { ready?: true; received?: number };
      if (m.ready) ready();
      if (m.received !== undefined && (received = m.received) === 10) allIn();
    });
    await isReady;
    const d = await device('dev-3');
    await publish(d, 'dev-3', 10);
    await allReceived; // all 10 taken by the member, none acknowledged
    child.kill('SIGKILL');
    await exited;
    expect(received).toBe(10);

    await bridge({ group, clientId });
    await vi.waitFor(async () => expect(await eventsOf('dev-3')).toHaveLength(10));
    expect((await eventsOf('dev-3')).map((e) => e.metrics.seq).sort((x, y) => x! - y!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('does not acknowledge while Strata is unavailable: the broker delivers again, and it is ingested after recovery', async () => {
    const observer = countingObserver();
    const ingest: MqttIngest & { down: boolean } = {
      down: true,
      ingestBody(...args) {
        return this.down ? Promise.reject(ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: 'stream full' })) : fx.ingest.ingestBody(...args);
      },
    };
    await bridge({ group: newGroup(), ingest, observer });
    const d = await device('dev-1');
    await publish(d, 'dev-1', 2);
    // Refused, reconnected, delivered again, refused again: the broker still holds them.
    await vi.waitFor(() => expect(observer.rejected_.unavailable).toBeGreaterThanOrEqual(4));
    expect(await fx.events()).toEqual([]);
    ingest.down = false;
    await vi.waitFor(async () => expect(await eventsOf('dev-1')).toHaveLength(2));
    expect(observer.accepted_).toBe(2);
  });

  it('refuses to start with wrong credentials or a bad URL or group', async () => {
    const isConnectError = (e: unknown) => e instanceof StrataError && e.code === 'STRATA_ERR_INGEST_MQTT_CONNECT';
    await expect(startMqttBridge({ ingest: fx.ingest, url: mosquitto.url, clientId: 'bad-creds', group: newGroup(), username: BRIDGE.username, password: 'wrong' })).rejects.toSatisfy(isConnectError);
    await expect(startMqttBridge({ ingest: fx.ingest, url: 'http://127.0.0.1:1', clientId: 'x', group: 'g' })).rejects.toSatisfy((e) => e instanceof StrataError && e.code === 'STRATA_ERR_INGEST_MQTT_BAD_CONFIG');
    await expect(startMqttBridge({ ingest: fx.ingest, url: mosquitto.url, clientId: 'x', group: 'a/b' })).rejects.toSatisfy((e) => e instanceof StrataError && e.code === 'STRATA_ERR_INGEST_MQTT_BAD_CONFIG');
  });
});
