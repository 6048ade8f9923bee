import { describe, expect, it } from 'vitest';
import { deviceMaySubscribe, errorTopic, telemetryDevice, telemetryTopic } from './topic.js';

describe('MQTT topics', () => {
  it('reads the device from devices/{id}/telemetry', () => {
    expect(telemetryDevice(telemetryTopic('bed-12'))).toEqual({ device: 'bed-12', valid: true });
    expect(telemetryDevice('devices/urn:dev:ow:10e2073a01080063/telemetry')).toEqual({ device: 'urn:dev:ow:10e2073a01080063', valid: true });
    expect(telemetryDevice('devices/bad id/telemetry')).toEqual({ device: 'bad id', valid: false });
    expect(telemetryDevice('devices/a/b/telemetry')).toBeUndefined();
    expect(telemetryDevice('devices//telemetry')).toBeUndefined();
    expect(telemetryDevice('devices/a/telemetry/x')).toBeUndefined();
    expect(telemetryDevice(errorTopic('a'))).toBeUndefined();
    expect(telemetryDevice('$SYS/broker/uptime')).toBeUndefined();
  });

  it('lets a device subscribe inside its own tree only', () => {
    for (const ok of ['devices/d1/#', 'devices/d1/errors', 'devices/d1/+', 'devices/d1/telemetry']) expect(deviceMaySubscribe('d1', ok)).toBe(true);
    for (const no of ['#', '+/+/errors', 'devices/+/errors', 'devices/#', 'devices/d1', 'devices/d1/', 'devices/d10/#', 'devices/d2/errors', '$share/g/devices/d1/#', '$SYS/#']) {
      expect(deviceMaySubscribe('d1', no)).toBe(false);
    }
  });
});
