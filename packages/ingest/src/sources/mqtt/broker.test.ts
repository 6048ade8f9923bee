import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { StrataError } from '@strata/core';
import { tempDir } from '@strata/testkit';
import { ingestErrors } from '../../errors.js';
import { startMqttBroker, type MqttBroker } from './broker.js';
import { MAX_REPORT_ISSUES, type MqttIngest } from './message.js';
import { authenticate, connectDevice, countingObserver, inbox, ingestFixture, type IngestFixture } from './test-support.js';

let fx: IngestFixture;
const open: { end(force?: boolean): unknown }[] = [];
const brokers: MqttBroker[] = [];

beforeAll(async () => {
  fx = await ingestFixture();
});
afterEach(async () => {
  for (const c of open.splice(0)) c.end(true);
  for (const b of brokers.splice(0)) await b.close();
});
afterAll(async () => {
  await fx.close();
});

async function broker(opts: Partial<Parameters<typeof startMqttBroker>[0]> = {}): Promise<{ b: MqttBroker; url: string }> {
  const b = await startMqttBroker({ ingest: fx.ingest, authenticate, port: 0, ...opts });
  brokers.push(b);
  return { b, url: `mqtt://127.0.0.1:${b.port}` };
}

async function device(url: string, id: string, extra: Parameters<typeof connectDevice>[2] = {}): Promise<MqttClient> {
  const c = await connectDevice(url, id, extra);
  open.push(c);
  return c;
}

const eventsOf = async (device: string) => (await fx.events()).filter((e) => e.device === device);

describe('embedded MQTT broker: who may connect', () => {
  it('refuses a CONNECT without a key for the username device with "not authorized"', async () => {
    const observer = countingObserver();
    const { url } = await broker({ observer });
    const attempt = (opts: mqtt.IClientOptions) => mqtt.connectAsync(url, { reconnectPeriod: 0, ...opts });
    await expect(attempt({ username: 'auth-1', password: 'wrong' })).rejects.toThrow(/Not authorized/);
    await expect(attempt({})).rejects.toThrow(/Not authorized/);
    await expect(attempt({ username: 'a/b', password: 'fleet-key' })).rejects.toThrow(/Not authorized/);
    // A key bound to another device does not sign in as this one.
    await expect(attempt({ username: 'auth-1', password: 'key-auth-2' })).rejects.toThrow(/Not authorized/);
    expect(observer.rejected_.unauthorized).toBe(4);

    open.push(await attempt({ username: 'auth-1', password: 'key-auth-1' }));
    open.push(await attempt({ username: 'auth-3', password: 'fleet-key' }));
  });

  it('speaks MQTT 3.1.1: an MQTT 5 client is told the protocol version is unacceptable', async () => {
    const { url } = await broker();
    await expect(mqtt.connectAsync(url, { username: 'v5-1', password: 'key-v5-1', protocolVersion: 5, reconnectPeriod: 0 })).rejects.toThrow(/Unacceptable protocol version/);
  });

  it('scopes client ids per device: another device using the same client id does not take over the session', async () => {
    const { url } = await broker();
    const a = await device(url, 'scope-a', { clientId: 'sensor' });
    const b = await device(url, 'scope-b', { clientId: 'sensor' });
    await a.publishAsync('devices/scope-a/telemetry', '{"device":"scope-a","metrics":{"x":1}}', { qos: 1 });
    await b.publishAsync('devices/scope-b/telemetry', '{"device":"scope-b","metrics":{"x":1}}', { qos: 1 });
    expect(a.connected && b.connected).toBe(true);
  });
});

describe('embedded MQTT broker: revoked keys', () => {
  it('closes the connection of a device whose key is revoked, takes nothing more from it, and refuses it again', async () => {
    let valid = true;
    const observer = countingObserver();
    const { url } = await broker({
      observer,
      recheckMs: 50,
      authenticate: (username, password) => {
        const who = valid ? authenticate(username, password) : undefined;
        return who && { ...who, stillValid: () => valid };
      },
    });
    const idle = await device(url, 'rev-idle');
    const busy = await device(url, 'rev-busy');
    await busy.publishAsync('devices/rev-busy/telemetry', '{"device":"rev-busy","metrics":{"n":1}}', { qos: 1 });
    const closed = (c: MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));
    const [idleClosed, busyClosed] = [closed(idle), closed(busy)];
    valid = false;
    // A publish racing the revocation: refused by the check before it, never acknowledged
    // (the client keeps it for a reconnect that will not be allowed).
    let acked = false;
    busy.publishAsync('devices/rev-busy/telemetry', '{"device":"rev-busy","metrics":{"n":2}}', { qos: 1 }).then(() => (acked = true), () => undefined);
    await Promise.all([idleClosed, busyClosed]); // an idle connection is closed by the periodic check
    expect(acked).toBe(false);
    expect((await eventsOf('rev-busy')).map((e) => e.metrics.n)).toEqual([1]);
    await expect(connectDevice(url, 'rev-idle')).rejects.toThrow(/Not authorized/);
    expect(observer.rejected_.unauthorized).toBeGreaterThanOrEqual(3);
  });
});

describe('embedded MQTT broker: telemetry', () => {
  it('acknowledges a QoS 1 message only once its events are durable in the stream, as source mqtt', async () => {
    const observer = countingObserver();
    // The append is held until the test lets it go: no PUBACK may arrive before.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let appending = false;
    const ingest: MqttIngest = {
      ingestBody: async (...args) => {
        appending = true;
        await held;
        return fx.ingest.ingestBody(...args);
      },
    };
    const { url } = await broker({ observer, ingest });
    const c = await device(url, 'ack-1');
    let acked = false;
    const published = c.publishAsync('devices/ack-1/telemetry', JSON.stringify({ sensorId: 'ack-1', temperature: 21.5, timestamp: '2025-12-04T12:00:00Z' }), { qos: 1 }).then(() => (acked = true));
    await vi.waitFor(() => expect(appending).toBe(true));
    await new Promise((resolve) => setTimeout(resolve, 100)); // time for a PUBACK sent too early to arrive
    expect(acked).toBe(false);
    release();
    await published;
    // The PUBACK has arrived: the event must be readable now, without waiting.
    expect(await eventsOf('ack-1')).toEqual([expect.objectContaining({ device: 'ack-1', ts: '2025-12-04T12:00:00.000Z', metrics: { temperature: 21.5 }, source: 'mqtt' })]);
    expect(observer).toMatchObject({ accepted_: 1, events: 1 });
  });

  it('takes every payload format HTTP takes, without a content type', async () => {
    const { url } = await broker();
    const c = await device(url, 'fmt-1');
    const topic = 'devices/fmt-1/telemetry';
    await c.publishAsync(topic, JSON.stringify([{ sensorId: 'fmt-1', a: 1 }, { device: 'fmt-1', ts: 1764849600000, metrics: { b: 2 } }]), { qos: 1 });
    await c.publishAsync(topic, '{"sensorId":"fmt-1","c":3}\n{"sensorId":"fmt-1","d":4}\n', { qos: 1 });
    await c.publishAsync(topic, JSON.stringify([{ bn: 'fmt-1:', bt: 1764849600, n: 'voltage', u: 'V', v: 120.1 }, { n: 'current', v: 1.2 }]), { qos: 1 });
    const metrics = (await eventsOf('fmt-1')).map((e) => e.metrics);
    expect(metrics).toEqual(expect.arrayContaining([{ a: 1 }, { b: 2 }, { c: 3 }, { d: 4 }, { voltage: 120.1, current: 1.2 }]));
    expect(metrics).toHaveLength(5);
  });

  it('takes the device from the topic when the payload names none (JSON and NDJSON; SenML is recognised by its bn)', async () => {
    const { url } = await broker();
    const c = await device(url, 'fmt-2');
    const topic = 'devices/fmt-2/telemetry';
    await c.publishAsync(topic, '{"metrics":{"a":1}}', { qos: 1 });
    await c.publishAsync(topic, '{"b":2}\n{"c":3}\n', { qos: 1 });
    const metrics = (await eventsOf('fmt-2')).map((e) => e.metrics);
    expect(metrics).toEqual(expect.arrayContaining([{ a: 1 }, { b: 2 }, { c: 3 }]));
    expect(metrics).toHaveLength(3);
  });

  it('takes QoS 0 as best effort: no acknowledgement, ingested when Strata can', async () => {
    const { url } = await broker();
    const c = await device(url, 'qos0-1');
    c.publish('devices/qos0-1/telemetry', '{"sensorId":"qos0-1","x":1}', { qos: 0 });
    await vi.waitFor(async () => expect(await eventsOf('qos0-1')).toHaveLength(1));
  });

  it('ingests a QoS 2 message once', async () => {
    const { url } = await broker();
    const c = await device(url, 'qos2-1');
    await c.publishAsync('devices/qos2-1/telemetry', '{"sensorId":"qos2-1","x":1}', { qos: 2 });
    expect(await eventsOf('qos2-1')).toHaveLength(1);
  });
});

describe('embedded MQTT broker: topics', () => {
  it('acknowledges, reports and drops a publish outside the device own telemetry topic; nobody receives it', async () => {
    const observer = countingObserver();
    const { url } = await broker({ observer });
    const victim = await device(url, 'acl-victim');
    const victimInbox = inbox(victim);
    await victim.subscribeAsync('devices/acl-victim/#', { qos: 1 });
    const attacker = await device(url, 'acl-attacker');
    const attackerInbox = inbox(attacker);
    await attacker.subscribeAsync('devices/acl-attacker/errors', { qos: 1 });

    const forged = ['devices/acl-victim/telemetry', 'devices/acl-victim/errors', 'devices/acl-attacker/errors', 'devices/acl-attacker/telemetry/x', '$SYS/broker', 'elsewhere'];
    for (const topic of forged) {
      await attacker.publishAsync(topic, '{"device":"acl-victim","metrics":{"x":1}}', { qos: 1 }); // PUBACK arrives
      const report = await attackerInbox.next('devices/acl-attacker/errors');
      expect(report).toMatchObject({ code: 'STRATA_ERR_INGEST_MQTT_TOPIC', status: 403, topic });
      expect(report.message).toContain('devices/acl-attacker/telemetry');
    }
    expect(observer.rejected_.forbidden_topic).toBe(forged.length);
    expect(await eventsOf('acl-victim')).toEqual([]);
    expect(attacker.connected).toBe(true);

    // The victim's own report is the first thing it receives: nothing forged reached it (and a
    // refused message is not echoed to its own subscription either).
    await victim.publishAsync('devices/acl-victim/telemetry', 'not json', { qos: 1 });
    await victimInbox.next('devices/acl-victim/errors');
    expect(victimInbox.all.map((m) => m.topic)).toEqual(['devices/acl-victim/errors']);
  });

  it('grants subscriptions inside the device own tree only, and keeps the connection', async () => {
    const { url } = await broker();
    const c = await device(url, 'sub-1');
    expect((await c.subscribeAsync('devices/sub-1/#', { qos: 1 }))[0]?.qos).toBe(1);
    for (const filter of ['devices/sub-2/#', '#', 'devices/+/telemetry', '$share/g/devices/+/telemetry', '$SYS/#']) {
      await expect(c.subscribeAsync(filter, { qos: 1 })).rejects.toMatchObject({ packet: { granted: [128] } });
    }
    await c.publishAsync('devices/sub-1/telemetry', '{"sensorId":"sub-1","x":1}', { qos: 1 });
    expect(c.connected).toBe(true);
  });
});

describe('embedded MQTT broker: bad payloads', () => {
  it('acknowledges and reports each bad payload, writes nothing, and disconnects nobody', async () => {
    const observer = countingObserver();
    const { url } = await broker({ observer, maxPayloadBytes: 4096 });
    const bystander = await device(url, 'bad-bystander');
    const c = await device(url, 'bad-1');
    const box = inbox(c);
    await c.subscribeAsync('devices/bad-1/errors', { qos: 1 });
    const topic = 'devices/bad-1/telemetry';
    const cases: { payload: string | Buffer; code: string; reason: string }[] = [
      { payload: 'not json', code: 'STRATA_ERR_INGEST_INVALID', reason: 'invalid' },
      { payload: '', code: 'STRATA_ERR_INGEST_INVALID', reason: 'invalid' },
      { payload: Buffer.from([0x7b, 0xff, 0xfe, 0x22, 0x7d]), code: 'STRATA_ERR_INGEST_INVALID', reason: 'invalid' },
      { payload: Buffer.from([0x00, 0x01, 0x02, 0x9c, 0xe2, 0x28, 0xa1]), code: 'STRATA_ERR_INGEST_INVALID', reason: 'invalid' },
      { payload: '{"sensorId":"bad-1","temperature":"hot"}', code: 'STRATA_ERR_INGEST_INVALID', reason: 'invalid' },
      { payload: '{"sensorId":"bad-2","temperature":1}', code: 'STRATA_ERR_AUTH_FORBIDDEN_DEVICE', reason: 'forbidden_device' },
      { payload: JSON.stringify({ sensorId: 'bad-1', pad: 1, tags: { t: 'x'.repeat(4100) } }), code: 'STRATA_ERR_INGEST_TOO_LARGE', reason: 'too_large' },
    ];
    for (const k of cases) {
      const ack = await c.publishAsync(topic, k.payload, { qos: 1 });
      const report = await box.next('devices/bad-1/errors', (r) => r.messageId === ack?.messageId);
      expect(report).toMatchObject({ code: k.code, topic, bytes: Buffer.byteLength(k.payload) });
    }
    expect(observer.rejected_).toEqual({ invalid: 5, forbidden_device: 1, too_large: 1 });

    // Many invalid items: the report stays small.
    const ack = await c.publishAsync(topic, JSON.stringify(Array.from({ length: 30 }, () => ({ sensorId: 'bad-1', x: 'no' }))), { qos: 1 });
    const report = await box.next('devices/bad-1/errors', (r) => r.messageId === ack?.messageId);
    expect(report.issues).toHaveLength(MAX_REPORT_ISSUES);
    expect(report.moreIssues).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(report))).toBeLessThan(8192);

    expect(await eventsOf('bad-1')).toEqual([]);
    // Everyone still connected and served.
    await c.publishAsync(topic, '{"sensorId":"bad-1","x":1}', { qos: 1 });
    await bystander.publishAsync('devices/bad-bystander/telemetry', '{"sensorId":"bad-bystander","x":1}', { qos: 1 });
    expect(await eventsOf('bad-1')).toHaveLength(1);
    expect(c.connected && bystander.connected).toBe(true);
  });

  it('closes only the offending connection when a packet is over the hard size limit, and tells the device', async () => {
    const observer = countingObserver();
    const { url } = await broker({ observer, maxPayloadBytes: 1024 });
    const bystander = await device(url, 'huge-bystander');
    const listener = await device(url, 'huge-1', { clientId: 'listener' });
    const box = inbox(listener);
    await listener.subscribeAsync('devices/huge-1/errors', { qos: 1 });
    const sender = await device(url, 'huge-1', { clientId: 'sender' });
    const closed = new Promise<void>((resolve) => sender.once('close', () => resolve()));
    sender.publish('devices/huge-1/telemetry', Buffer.alloc(2 * 1024 * 1024, 0x7b), { qos: 1 });
    await closed;
    expect(await box.next('devices/huge-1/errors')).toMatchObject({ code: 'STRATA_ERR_INGEST_TOO_LARGE', bytes: expect.any(Number) });
    expect(observer.rejected_.too_large).toBe(1);
    await bystander.publishAsync('devices/huge-bystander/telemetry', '{"sensorId":"huge-bystander","x":1}', { qos: 1 });
    expect(listener.connected && bystander.connected).toBe(true);
  });
});

describe('embedded MQTT broker: when Strata cannot take data', () => {
  /** The real ingest service, or a 503 while `down`. */
  function switchable(): MqttIngest & { down: boolean; calls: number } {
    const s = {
      down: true,
      calls: 0,
      ingestBody: (...args: Parameters<MqttIngest['ingestBody']>) => {
        s.calls++;
        return s.down ? Promise.reject(ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE({ reason: 'stream full' })) : fx.ingest.ingestBody(...args);
      },
    };
    return s;
  }

  it('does not acknowledge a QoS 1 message; the client resends it after reconnecting and it is ingested once', async () => {
    const ingest = switchable();
    const observer = countingObserver();
    const { url } = await broker({ ingest, observer });
    const c = await device(url, 'down-1', { clientId: 'down-1', clean: false, reconnectPeriod: 20 });
    let acked = false;
    const published = c.publishAsync('devices/down-1/telemetry', '{"sensorId":"down-1","x":1}', { qos: 1 }).then(() => (acked = true));
    await new Promise<void>((resolve) => c.once('close', () => resolve())); // the broker dropped the connection instead of a PUBACK
    expect(acked).toBe(false);
    expect(observer.rejected_.unavailable).toBeGreaterThanOrEqual(1);
    expect(await eventsOf('down-1')).toEqual([]);

    ingest.down = false;
    await published; // resent (DUP) on reconnect, acknowledged once durable
    expect(await eventsOf('down-1')).toHaveLength(1);
    expect(observer.accepted_).toBe(1);
  });

  it('drops a QoS 0 message with a report, and keeps the connection', async () => {
    const ingest = switchable();
    const { url } = await broker({ ingest });
    const c = await device(url, 'down-2');
    const box = inbox(c);
    await c.subscribeAsync('devices/down-2/errors', { qos: 1 });
    c.publish('devices/down-2/telemetry', '{"sensorId":"down-2","x":1}', { qos: 0 });
    expect(await box.next('devices/down-2/errors')).toMatchObject({ code: 'STRATA_ERR_INGEST_UNAVAILABLE', status: 503 });
    expect(c.connected).toBe(true);
  });

  it('lets messages in flight finish on close(): their PUBACKs still go out', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const inIngest = new Promise<void>((resolve) => (started = resolve));
    const ingest: MqttIngest = {
      ingestBody: async (...args) => {
        started();
        await gate;
        return fx.ingest.ingestBody(...args);
      },
    };
    const b = await startMqttBroker({ ingest, authenticate, port: 0 });
    const c = await connectDevice(`mqtt://127.0.0.1:${b.port}`, 'close-1');
    open.push(c);
    const published = c.publishAsync('devices/close-1/telemetry', '{"sensorId":"close-1","x":1}', { qos: 1 });
    await inIngest;
    const closed = b.close();
    release();
    await published;
    await closed;
    expect(await eventsOf('close-1')).toHaveLength(1);
  });
});

describe('embedded MQTT broker: TLS', () => {
  let certs: ReturnType<typeof tempDir>;
  let certFile: string;
  let keyFile: string;
  beforeAll(() => {
    certs = tempDir('mqtt-tls');
    certFile = join(certs.dir, 'cert.pem');
    keyFile = join(certs.dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  });
  afterAll(() => certs.remove());

  it('serves MQTT over TLS on a second listener', async () => {
    const { b } = await broker({ tls: { certFile, keyFile, port: 0 } });
    const url = `mqtts://127.0.0.1:${b.tlsPort}`;
    const c = await device(url, 'tls-1', { ca: readFileSync(certFile) });
    await c.publishAsync('devices/tls-1/telemetry', '{"sensorId":"tls-1","x":1}', { qos: 1 });
    expect(await eventsOf('tls-1')).toHaveLength(1);
    // A client that does not trust the certificate does not get in.
    await expect(mqtt.connectAsync(url, { username: 'tls-1', password: 'key-tls-1', reconnectPeriod: 0 })).rejects.toThrow(/self.signed/i);
  });

  it('refuses to start with unreadable TLS files or a bad port', async () => {
    const bad = (opts: Partial<Parameters<typeof startMqttBroker>[0]>) => startMqttBroker({ ingest: fx.ingest, authenticate, port: 0, ...opts });
    await expect(bad({ tls: { certFile: join(certs.dir, 'missing.pem'), keyFile } })).rejects.toSatisfy((e) => e instanceof StrataError && e.code === 'STRATA_ERR_INGEST_MQTT_BAD_CONFIG');
    await expect(bad({ port: 70_000 })).rejects.toSatisfy((e) => e instanceof StrataError && e.code === 'STRATA_ERR_INGEST_MQTT_BAD_CONFIG');
  });
});
