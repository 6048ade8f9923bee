import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startMosquitto, type MosquittoServer } from './mosquitto.js';

describe('startMosquitto', () => {
  let broker: MosquittoServer;
  beforeAll(async () => {
    broker = await startMosquitto({
      users: { reader: 'r-secret', 'dev-1': 'd-secret' },
      acl: ['user reader', 'topic read devices/+/telemetry', '', 'pattern write devices/%u/telemetry'],
    });
  });
  afterAll(async () => {
    await broker.close();
  });

  it('listens on 127.0.0.1 with passwords and the ACL given', async () => {
    expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`);
    await expect(mqtt.connectAsync(broker.url, { username: 'dev-1', password: 'wrong', reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/);
    const reader = await mqtt.connectAsync(broker.url, { username: 'reader', password: 'r-secret', reconnectPeriod: 0 });
    const got: string[] = [];
    reader.on('message', (topic) => got.push(topic));
    await reader.subscribeAsync('devices/+/telemetry', { qos: 1 });
    const first = new Promise<void>((resolve) => reader.once('message', () => resolve()));
    const dev = await mqtt.connectAsync(broker.url, { username: 'dev-1', password: 'd-secret', reconnectPeriod: 0 });
    await dev.publishAsync('devices/dev-2/telemetry', 'x', { qos: 1 }); // denied by the ACL: acknowledged, dropped
    await dev.publishAsync('devices/dev-1/telemetry', 'x', { qos: 1 });
    await first;
    expect(got).toEqual(['devices/dev-1/telemetry']);
    await Promise.all([reader.endAsync(), dev.endAsync()]);
  });

  it('keeps a persistent session queue across stop() and start(), and start() after kill() works', async () => {
    const session = { username: 'reader', password: 'r-secret', clientId: 'kept', clean: false, reconnectPeriod: 0 };
    const reader = await mqtt.connectAsync(broker.url, session);
    await reader.subscribeAsync('devices/+/telemetry', { qos: 1 });
    await reader.endAsync();
    const dev = await mqtt.connectAsync(broker.url, { username: 'dev-1', password: 'd-secret', reconnectPeriod: 0 });
    await dev.publishAsync('devices/dev-1/telemetry', 'queued', { qos: 1 });
    await dev.endAsync();

    await broker.stop(); // SIGTERM: mosquitto saves its persistence database
    expect(broker.pid()).toBeUndefined();
    await broker.start();
    const back = mqtt.connect(broker.url, session);
    const payload = await new Promise<string>((resolve) => back.once('message', (_t, p) => resolve(p.toString())));
    expect(payload).toBe('queued');
    await back.endAsync();

    await broker.kill();
    expect(broker.pid()).toBeUndefined();
    await broker.start();
    const again = await mqtt.connectAsync(broker.url, { username: 'dev-1', password: 'd-secret', reconnectPeriod: 0 });
    await again.endAsync();
  });
});
