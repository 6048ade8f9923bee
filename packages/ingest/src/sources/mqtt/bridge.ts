/**
 * The MQTT bridge: takes device telemetry from an external broker (mosquitto, …) into Strata.
 *
 * Each bridge process is one member of a shared subscription `$share/{group}/devices/+/telemetry`
 * (QoS 1, MQTT 5), so members split the messages between them. Each member has a persistent
 * session under a stable client id (clean start off, session expiry `sessionExpirySeconds`):
 * messages that arrive while it is away, and messages it received but did not acknowledge, wait
 * in its session on the broker and are delivered when it comes back.
 *
 * Acknowledgement: a message's PUBACK goes to the broker only once Strata has made it durable
 * (or refused it for good, with a report on `devices/{id}/errors`); see ack-gate.ts. When
 * Strata cannot take a message now (503), the bridge drops its connection without that PUBACK
 * and reconnects after `reconnectPeriodMs`; the broker then delivers every unacknowledged
 * message again. Delivery is at least once: a message made durable whose PUBACK was lost is
 * appended again (client event ids make the stream drop such duplicates).
 *
 * The device comes from the topic: the external broker's ACL must let each device write only
 * `devices/{its username}/telemetry` (see the package README).
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { MqttClient, type IClientOptions, type IPublishPacket } from 'mqtt';
import { silentLogger, type Logger } from '@strata/core';
import { ingestErrors } from '../../errors.js';
import { AckGate, type AckTicket } from './ack-gate.js';
import {
  AvailabilityLog,
  DEFAULT_MAX_PAYLOAD_BYTES,
  droppedReport,
  ingestMessage,
  refusal,
  type ErrorReport,
  type MqttIngest,
  type MqttIngestObserver,
  type Outcome,
} from './message.js';
import { errorTopic, TELEMETRY_FILTER, telemetryDevice } from './topic.js';

export interface MqttBridgeOptions {
  ingest: MqttIngest;
  /** `mqtt://host:port` or `tcp://` (default port 1883), `mqtts://` or `ssl://` (TLS, default port 8883). */
  url: string;
  username?: string;
  password?: string;
  /** Stable per member: the broker keeps this member's session (and its unacknowledged messages) under it. */
  clientId: string;
  /** Shared-subscription group (`[A-Za-z0-9_-]{1,64}`): members of one group split the messages. */
  group: string;
  logger?: Logger;
  observer?: MqttIngestObserver;
  /** Largest payload ingested; larger ones are refused with a report. Default 256 KiB. */
  maxPayloadBytes?: number;
  /**
   * How long the broker keeps this member's session (and queues its share of messages) while it
   * is away. Default 0xFFFFFFFF: never expires, so nothing queued for it is ever dropped.
   */
  sessionExpirySeconds?: number;
  /** Messages the broker may have in flight to this member (MQTT 5 Receive Maximum). Default 100. */
  receiveMaximum?: number;
  /** Wait before reconnecting after the connection dropped. Default 1000 ms. */
  reconnectPeriodMs?: number;
  /** How long `startMqttBridge` waits for the first connection and subscription. Default 30 s. */
  connectTimeoutMs?: number;
  /** PEM CA file to verify an `mqtts://` broker's certificate with (default: the system CAs). */
  caFile?: string;
}

export interface MqttBridge {
  /** Messages received and not yet settled (durable, refused, or failed). */
  readonly inFlight: number;
  /**
   * Stops taking messages, waits for those in flight to settle (their PUBACKs go out), then
   * disconnects. Messages that arrive meanwhile are left unacknowledged: they stay in this
   * member's session on the broker, which keeps receiving its share of new messages (mosquitto
   * hands shared messages to offline members' sessions too) until the member comes back.
   *
   * `leave: true` retires the member for good: it unsubscribes (new messages go to the other
   * members), takes in everything already queued for it, then ends its session. Idempotent.
   */
  close(opts?: { leave?: boolean }): Promise<void>;
}

const GROUP_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const NEVER_EXPIRES = 0xffffffff;
/** How long `close()` waits for the broker to take the last error reports before it drops the connection. */
const CLOSE_GRACE_MS = 5000;
/** MQTT 5 CONNACK reason codes that no retry will fix. */
const REFUSALS = new Set([0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c]);

export async function startMqttBridge(opts: MqttBridgeOptions): Promise<MqttBridge> {
  const target = parseUrl(opts.url);
  if (!GROUP_PATTERN.test(opts.group)) throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option: 'group', reason: `${JSON.stringify(opts.group)} must match [A-Za-z0-9_-]{1,64}` });
  if (opts.clientId.length === 0 || opts.clientId.length > 256) throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option: 'clientId', reason: 'must be 1 to 256 characters' });
  const maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const ca = opts.caFile === undefined ? undefined : readCa(opts.caFile);
  const logger = opts.logger ?? silentLogger;
  const observer = opts.observer;
  const availability = new AvailabilityLog(logger, 'mqtt bridge');
  const filter = `$share/${opts.group}/${TELEMETRY_FILTER}`;
  const inflight = new Set<Promise<void>>();
  let gate: AckGate | undefined;
  let closing = false;
  let reportFailureLogged = false;

  const streamBuilder = (): AckGate => {
    const socket = target.secure
      ? tlsConnect({ host: target.host, port: target.port, servername: target.host, ...(ca && { ca }) })
      : netConnect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    gate = new AckGate(socket);
    return gate;
  };
  const username = opts.username ?? target.username;
  const password = opts.password ?? target.password;
  const options: IClientOptions = {
    clientId: opts.clientId,
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: opts.sessionExpirySeconds ?? NEVER_EXPIRES, receiveMaximum: opts.receiveMaximum ?? 100 },
    reconnectPeriod: opts.reconnectPeriodMs ?? 1000,
    connectTimeout: opts.connectTimeoutMs ?? 30_000,
    manualConnect: true,
  };
  const client = new MqttClient(streamBuilder, options);

  const report = (device: string, r: ErrorReport): void => {
    client.publish(errorTopic(device), JSON.stringify(r), { qos: 1 }, (err) => {
      if (err && !reportFailureLogged) {
        reportFailureLogged = true; // once: the usual cause is the broker's ACL, the same for every device
        logger.warn({ err: err.message }, 'mqtt bridge cannot publish error reports: let the bridge user write devices/+/errors');
      }
    });
  };

  const settle = (packet: IPublishPacket, device: string | undefined, outcome: Outcome, ticket: AckTicket | undefined): void => {
    switch (outcome.kind) {
      case 'accepted':
        availability.succeeded();
        observer?.accepted(outcome.result.accepted, outcome.result.duplicates);
        ticket?.ack();
        return;
      case 'refused':
        observer?.rejected(outcome.reason);
        logger.debug({ device, reason: outcome.reason, code: outcome.report.code }, 'mqtt message refused');
        if (device !== undefined) report(device, outcome.report);
        ticket?.ack();
        return;
      case 'unavailable':
        availability.failed(outcome.error);
        observer?.rejected('unavailable');
        if (!ticket) {
          if (device !== undefined) report(device, droppedReport({ topic: packet.topic, payload: asBuffer(packet.payload) }, outcome.error));
          return;
        }
        ticket.fail(outcome.error); // reconnect: the broker delivers it (and all unacknowledged) again
        return;
    }
  };

  /** Ingests one message and settles its ticket. Never rejects. */
  const take = async (packet: IPublishPacket, ticket: AckTicket | undefined): Promise<void> => {
    try {
      const payload = asBuffer(packet.payload);
      const messageId = packet.messageId;
      const where = telemetryDevice(packet.topic);
      if (!where || !where.valid) {
        const reason = where ? `${JSON.stringify(where.device.slice(0, 60))} is not a device id ([A-Za-z0-9._:-]{1,128})` : `the bridge takes ${TELEMETRY_FILTER} only`;
        const err = ingestErrors.STRATA_ERR_INGEST_MQTT_TOPIC({ topic: JSON.stringify(packet.topic.slice(0, 200)), reason });
        settle(packet, where?.device, refusal({ topic: packet.topic, payload, ...(messageId !== undefined && { messageId }) }, 'forbidden_topic', err), ticket);
        return;
      }
      const contentType = packet.properties?.contentType;
      const message = { topic: packet.topic, device: where.device, payload, ...(contentType !== undefined && { contentType }), ...(messageId !== undefined && { messageId }) };
      settle(packet, where.device, await ingestMessage(opts.ingest, message, maxPayloadBytes), ticket);
    } catch (err) {
      // A throwing observer: do not acknowledge, so the message is not lost.
      logger.error({ err }, 'mqtt bridge message handling failed');
      ticket?.fail(err as Error);
    }
  };

  // mqtt.js calls this one message at a time and sends the PUBACK when it calls back; the gate
  // holds that PUBACK until the ticket settles, so messages are ingested concurrently.
  let delivered = 0;
  client.handleMessage = (packet, callback) => {
    delivered++;
    const current = gate;
    // QoS 1 only: the subscription is QoS 1, so the broker never sends QoS 2 (whose last answer would be a PUBCOMP).
    const ticket = packet.qos === 1 && packet.messageId !== undefined && current ? current.expect(packet.messageId) : undefined;
    if (!closing) {
      const work = take(packet, ticket);
      inflight.add(work);
      void work.finally(() => inflight.delete(work));
    }
    callback();
  };

  // Once per outage: WARN when the connection is lost, and WARN for the first reason a
  // reconnection fails (a refused CONNACK, say, after a password change); the rest at DEBUG.
  let connectedOnce = false;
  let offlineLogged = false;
  let errorLogged = false;
  client.on('connect', (connack) => {
    offlineLogged = false;
    errorLogged = false;
    logger.info({ url: target.display, clientId: opts.clientId, sessionPresent: connack.sessionPresent }, 'mqtt bridge connected');
  });
  client.on('offline', () => {
    if (!connectedOnce || offlineLogged || closing) return;
    offlineLogged = true;
    logger.warn({ url: target.display }, 'mqtt bridge disconnected; reconnecting');
  });
  client.on('error', (err) => {
    if (connectedOnce && !errorLogged && !closing) {
      errorLogged = true;
      logger.warn({ url: target.display, err: err.message }, 'mqtt bridge cannot reconnect yet');
    } else {
      logger.debug({ err: err.message }, 'mqtt bridge connection error');
    }
  });

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not connected within ${options.connectTimeout} ms`)), options.connectTimeout);
      const onError = (err: Error & { code?: unknown }): void => {
        if (typeof err.code === 'number' && REFUSALS.has(err.code)) {
          clearTimeout(timer);
          reject(new Error(`connection refused: ${err.message}`));
        }
      };
      client.on('error', onError);
      client.once('connect', () => {
        clearTimeout(timer);
        client.off('error', onError);
        resolve();
      });
      client.connect();
    });
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    const refused = granted.find((g) => g.qos !== 0 && g.qos !== 1 && g.qos !== 2);
    if (refused) throw new Error(`subscription to ${filter} refused (reason ${refused.qos}): let the bridge user read devices/+/telemetry`);
    connectedOnce = true;
  } catch (err) {
    await client.endAsync(true).catch(() => undefined);
    throw ingestErrors.STRATA_ERR_INGEST_MQTT_CONNECT({ url: target.display, reason: (err as Error).message }, err);
  }
  logger.info({ url: target.display, filter, clientId: opts.clientId }, 'mqtt bridge subscribed');

  /**
   * Unsubscribes, then takes in what the session still holds: done when a round trip to the
   * broker passes with nothing in flight and nothing new delivered (the broker sends queued
   * messages as soon as PUBACKs free its in-flight window).
   */
  const leave = async (): Promise<void> => {
    await client.unsubscribeAsync(filter);
    for (;;) {
      await Promise.allSettled([...inflight]);
      const before = delivered;
      await client.unsubscribeAsync(filter); // a round trip: UNSUBACK
      if (delivered === before && inflight.size === 0) return;
    }
  };

  let closed: Promise<void> | undefined;
  return {
    get inFlight() {
      return inflight.size;
    },
    close(closeOpts = {}) {
      closed ??= (async () => {
        if (closeOpts.leave && client.connected) await leave();
        closing = true;
        await Promise.allSettled([...inflight]);
        // Graceful (DISCONNECT after the released PUBACKs) when connected; mqtt.js would wait for
        // unacknowledged error reports forever when not, so then, or after a while, force it.
        let ended = false;
        if (client.connected) {
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
          // Leaving: session expiry 0 in the DISCONNECT ends the session with the connection.
          const disconnect = closeOpts.leave ? client.endAsync(false, { properties: { sessionExpiryInterval: 0 } }) : client.endAsync();
          await Promise.race([disconnect.then(() => (ended = true)), late]);
          clearTimeout(timer);
        }
        if (!ended) await client.endAsync(true, closeOpts.leave ? { properties: { sessionExpiryInterval: 0 } } : {});
        logger.info({ url: target.display, clientId: opts.clientId }, 'mqtt bridge closed');
      })();
      return closed;
    },
  };
}

function asBuffer(payload: Buffer | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option: 'caFile', reason: `cannot read ${file}: ${(err as Error).message}` }, err);
  }
}

/** Host, port and TLS from the broker URL; `display` has no credentials (for logs and errors). */
function parseUrl(raw: string): { host: string; port: number; secure: boolean; display: string; username?: string; password?: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option: 'url', reason: 'not a URL (mqtt://host:1883 or mqtts://host:8883)' });
  }
  const secure = url.protocol === 'mqtts:' || url.protocol === 'ssl:';
  if (!secure && url.protocol !== 'mqtt:' && url.protocol !== 'tcp:') {
    throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option: 'url', reason: `scheme ${url.protocol} is not mqtt:, tcp:, mqtts: or ssl:` });
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option: 'url', reason: 'no host' });
  const port = url.port === '' ? (secure ? 8883 : 1883) : Number(url.port);
  return {
    host,
    port,
    secure,
    display: `${url.protocol}//${url.host}`,
    ...(url.username !== '' && { username: decodeURIComponent(url.username) }),
    ...(url.password !== '' && { password: decodeURIComponent(url.password) }),
  };
}
