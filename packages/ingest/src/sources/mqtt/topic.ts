import { DEVICE_ID_PATTERN } from '@strata/core';

/**
 * The MQTT topic layout, one tree per device:
 *
 * - `devices/{deviceId}/telemetry`: the device publishes its telemetry here (QoS 0 or 1).
 * - `devices/{deviceId}/errors`: Strata publishes a JSON report here for each message it refused.
 *
 * A device id is a single topic level, so DEVICE_ID_PATTERN (no `/`, `+`, `#`) keeps the tree sound.
 */
export const TELEMETRY_FILTER = 'devices/+/telemetry';

export function telemetryTopic(device: string): string {
  return `devices/${device}/telemetry`;
}

export function errorTopic(device: string): string {
  return `devices/${device}/errors`;
}

/**
 * The device a telemetry topic names: `devices/{id}/telemetry` with a valid device id.
 * `valid: false` when the topic has the telemetry shape but the id is not a device id (the
 * device can still be told, on `devices/{id}/errors`); undefined for any other topic.
 */
export function telemetryDevice(topic: string): { device: string; valid: boolean } | undefined {
  if (!topic.startsWith('devices/') || !topic.endsWith('/telemetry')) return undefined;
  const device = topic.slice('devices/'.length, topic.length - '/telemetry'.length);
  if (device.length === 0 || device.includes('/')) return undefined;
  return { device, valid: DEVICE_ID_PATTERN.test(device) };
}

/**
 * Whether a device may subscribe to `filter`: only inside its own tree, `devices/{device}/…`
 * (`devices/{device}/#`, `devices/{device}/errors`, …); never another device's, a wildcard in
 * place of its id, a shared subscription or `$SYS`.
 */
export function deviceMaySubscribe(device: string, filter: string): boolean {
  const prefix = `devices/${device}/`;
  return filter.startsWith(prefix) && filter.length > prefix.length;
}
