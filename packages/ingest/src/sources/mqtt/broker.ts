/**
 * Strata's embedded MQTT broker (aedes, MQTT 3.1.1 and 3.1): devices connect with their device
 * id as username and an API key as password, and publish telemetry to `devices/{id}/telemetry`.
 * It is an ingest endpoint, not a general-purpose broker: the only messages it routes to
 * subscribers are Strata's own reports on `devices/{id}/errors`.
 *
 * Invariants:
 * - Every PUBLISH goes through `authorizePublish`, which runs the whole ingest (parse, validate,
 *   durable append) before answering aedes; aedes writes the PUBACK (QoS 1) or PUBREC (QoS 2)
 *   only after that answer. So an acknowledged message is durable in the stream.
 * - aedes reads no more of a connection until every message of its last read is answered, so
 *   a busy client's next messages pile up while an append is in flight and come in as one read;
 *   the one-event messages of one device in one read are then ingested with one call
 *   (coalesce.ts). That is the broker's batching, with no timer.
 * - No PUBLISH is routed on: its topic is rewritten to DROPPED_TOPIC, which no client may
 *   subscribe to, before aedes gets the answer.
 * - A message that can never succeed (bad payload, wrong device, too large, forbidden topic) is
 *   acknowledged, counted and reported on `devices/{id}/errors`.
 * - A QoS 1/2 message Strata cannot take now (503) is not acknowledged: the connection is
 *   closed, and the client resends it (DUP) when it reconnects. QoS 0 messages are best effort:
 *   dropped with a report.
 * - Clients only ever see their own tree: subscriptions outside `devices/{own id}/` are refused
 *   (SUBACK 0x80), and client ids are scoped per device, so one device cannot take over another
 *   device's session.
 * - Packets larger than `maxPacketBytes` close the connection as soon as their header arrives,
 *   before their body is buffered (aedes itself would buffer up to MQTT's 256 MiB).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { DEVICE_ID_PATTERN, silentLogger, type Logger } from '@strata/core';
import { ingestErrors } from '../../errors.js';
import {
  AvailabilityLog,
  DEFAULT_MAX_PAYLOAD_BYTES,
  droppedReport,
  ingestMessage,
  refusal,
  type ErrorReport,
  type MessageIn,
  type MqttIngest,
  type MqttIngestObserver,
  type Outcome,
} from './message.js';
import { Coalescer } from './coalesce.js';
import { deviceMaySubscribe, errorTopic, telemetryDevice, telemetryTopic } from './topic.js';

/**
 * Decides whether a device may connect: `username` is the device id the client claims,
 * `password` what it presented (an API key). Answer undefined to refuse (CONNACK 5, not
 * authorized), or `{ device }` when the key is bound to a device (it must be `username`), or
 * `{}` when the key may write any device. May be async.
 */
/**
 * Who may connect: undefined refuses; `device` binds the connection to one device;
 * `stillValid` is asked again before every publish and every `recheckMs` (a revoked or expired
 * key): once it says false the connection is closed.
 */
export interface MqttAuthenticated {
  device?: string;
  stillValid?: () => boolean;
}
export type MqttAuthenticate = (username: string, password: Buffer | undefined) => MqttAuthenticated | undefined | Promise<MqttAuthenticated | undefined>;

export interface MqttBrokerOptions {
  ingest: MqttIngest;
  authenticate: MqttAuthenticate;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 1883; 0 picks a free port (see `MqttBroker.port`). */
  port?: number;
  /** A second listener speaking MQTT over TLS. */
  tls?: { certFile: string; keyFile: string; host?: string; /** Default 8883; 0 = a free port. */ port?: number };
  logger?: Logger;
  observer?: MqttIngestObserver;
  /** Largest payload ingested; larger ones are refused with a report. Default 256 KiB. */
  maxPayloadBytes?: number;
  /** How often idle connections' credentials are checked again (`stillValid`). Default 1000 ms. */
  recheckMs?: number;
}

export interface MqttBroker {
  /** The plain listener's port. */
  port: number;
  /** The TLS listener's port, when `tls` was given. */
  tlsPort?: number;
  /**
   * Stops accepting connections, lets in-flight messages finish (their PUBACKs go out), then
   * disconnects every client. Idempotent.
   */
  close(): Promise<void>;
}

/** Every PUBLISH is rewritten to this topic before aedes routes it: `$` topics match no wildcard, and no device may subscribe to it. */
export const DROPPED_TOPIC = '$strata/dropped';
const EMPTY = Buffer.alloc(0);
const MAX_PAYLOAD_LIMIT = 64 * 1024 * 1024;
/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
const SERVER_UNAVAILABLE = 3;
const NOT_AUTHORIZED = 5;

/** Packets above this close the connection: room for a payload 4× the limit (so it can still be reported) and its headers. */
export function maxPacketBytes(maxPayloadBytes: number): number {
  return maxPayloadBytes * 4 + 64 * 1024;
}

export async function startMqttBroker(opts: MqttBrokerOptions): Promise<MqttBroker> {
  const host = opts.host ?? '127.0.0.1';
  const port = checkPort('port', opts.port ?? 1883);
  const maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1 || maxPayloadBytes > MAX_PAYLOAD_LIMIT) {
    throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option: 'maxPayloadBytes', reason: `${maxPayloadBytes} is not a whole number from 1 to ${MAX_PAYLOAD_LIMIT}` });
  }
  const recheckMs = opts.recheckMs ?? 1000;
  if (!Number.isInteger(recheckMs) || recheckMs < 10) {
    throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option: 'recheckMs', reason: `${recheckMs} is not a whole number of at least 10` });
  }
  const tls = opts.tls && { cert: readConfigFile('tls.certFile', opts.tls.certFile), key: readConfigFile('tls.keyFile', opts.tls.keyFile), host: opts.tls.host ?? host, port: checkPort('tls.port', opts.tls.port ?? 8883) };
  const logger = opts.logger ?? silentLogger;
  const observer = opts.observer;
  const availability = new AvailabilityLog(logger, 'mqtt broker');
  const packetLimit = maxPacketBytes(maxPayloadBytes);
  /** The device each authenticated client connected as. */
  const devices = new WeakMap<Client, string>();
  /** Connected clients whose credentials can be revoked, with the check. */
  const validity = new Map<Client, () => boolean>();
  const revoked = (client: Client): boolean => {
    const stillValid = validity.get(client);
    if (stillValid === undefined || stillValid()) return false;
    validity.delete(client);
    observer?.rejected('unauthorized');
    logger.info({ device: devices.get(client) }, 'mqtt connection closed: its key was revoked or expired');
    return true;
  };
  const recheck = setInterval(() => {
    for (const client of [...validity.keys()]) if (revoked(client)) client.close();
  }, recheckMs);
  recheck.unref();
  const inflight = new InFlight();
  const coalescer = new Coalescer(opts.ingest, maxPayloadBytes);
  const sockets = new Set<Socket>();
  let closing = false;
  let guardWarned = false;

  const report = (device: string, r: ErrorReport): void => {
    const packet: PublishPacket = { cmd: 'publish', topic: errorTopic(device), payload: Buffer.from(JSON.stringify(r)), qos: 1, retain: false, dup: false };
    broker.publish(packet, (err) => {
      if (err) logger.debug({ err: err.message }, 'mqtt error report not published');
    });
  };

  const drop = (packet: PublishPacket): void => {
    packet.topic = DROPPED_TOPIC;
    packet.payload = EMPTY;
    packet.retain = false;
  };

  /**
   * What becomes of one message once its outcome is known: `ack` lets its acknowledgement go
   * (PUBACK, PUBREC; nothing for QoS 0), `fail` withholds it by closing the connection.
   */
  const settle = (device: string, message: MessageIn, qos: number, outcome: Outcome, ack: () => void, fail: (err: Error) => void): void => {
    switch (outcome.kind) {
      case 'accepted':
        availability.succeeded();
        observer?.accepted(outcome.result.accepted, outcome.result.duplicates);
        return ack();
      case 'refused':
        observer?.rejected(outcome.reason);
        logger.debug({ device, reason: outcome.reason, code: outcome.report.code }, 'mqtt message refused');
        report(device, outcome.report);
        return ack();
      case 'unavailable':
        availability.failed(outcome.error);
        observer?.rejected('unavailable');
        if (qos === 0) {
          report(device, droppedReport(message, outcome.error));
          return ack();
        }
        // No PUBACK: closing the connection is MQTT 3.1.1's only "not taken"; the client resends on reconnect.
        return fail(outcome.error);
    }
  };

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const refuse = (returnCode: number, message: string): void => {
        observer?.rejected('unauthorized');
        done(Object.assign(new Error(message), { returnCode }), false);
      };
      if (closing) return refuse(SERVER_UNAVAILABLE, 'broker is closing');
      if (username === undefined || !DEVICE_ID_PATTERN.test(username)) return refuse(NOT_AUTHORIZED, 'username must be a device id');
      Promise.resolve()
        .then(() => opts.authenticate(username, password))
        .then(
          (who) => {
            if (!who || (who.device !== undefined && who.device !== username)) return refuse(NOT_AUTHORIZED, 'not authorized');
            devices.set(client, username);
            if (who.stillValid) validity.set(client, who.stillValid);
            // Scope the session to the device: another device using the same client id gets its own session.
            (client as { id: string }).id = `${username}/${client.id}`;
            done(null, true);
          },
          (err: unknown) => {
            logger.warn({ err }, 'mqtt authenticate failed');
            refuse(SERVER_UNAVAILABLE, 'authentication unavailable');
          },
        );
    },

    authorizePublish(client, packet, done) {
      const device = client ? devices.get(client) : undefined;
      if (device === undefined) return done(new Error('not authenticated'));
      if (closing) return done(new Error('broker is closing'));
      if (revoked(client!)) return done(new Error('key revoked')); // closes the connection: nothing is taken
      const message: MessageIn = { topic: packet.topic, device, payload: asBuffer(packet.payload) };
      if (packet.messageId !== undefined) message.messageId = packet.messageId;
      const qos = packet.qos;
      // Telemetry goes into Strata, not on to subscribers: aedes routes the packet nowhere.
      drop(packet);
      const target = telemetryDevice(message.topic);
      if (!target || target.device !== device) {
        const reason = `this connection publishes telemetry to ${telemetryTopic(device)} only`;
        const err = ingestErrors.STRATA_ERR_INGEST_MQTT_TOPIC({ topic: JSON.stringify(message.topic.slice(0, 200)), reason });
        return settle(device, message, qos, refusal(message, 'forbidden_topic', err), () => done(null), done);
      }
      // aedes writes the PUBACK (PUBREC) when it gets the answer, and reads no more of this
      // connection until every message of the last read is answered: while an append is in
      // flight the next messages pile up in the socket and arrive as one batch.
      inflight.start();
      let answered = false;
      const answer = (err: Error | null): void => {
        if (answered) return;
        answered = true;
        done(err);
      };
      const finish = (outcome: Outcome | undefined): void => {
        try {
          if (outcome) settle(device, message, qos, outcome, () => answer(null), answer);
          else answer(null);
        } catch (err) {
          // A throwing observer must not leave the client waiting for an answer forever.
          logger.error({ err }, 'mqtt publish handling failed');
          answer(err as Error);
        } finally {
          inflight.end();
        }
      };
      if (qos === 2) {
        // A QoS 2 resend (DUP) whose first copy is stored awaiting PUBREL was ingested already.
        void isStoredQos2(broker, client!, packet).then((stored) => (stored ? finish(undefined) : ingestMessage(opts.ingest, message, maxPayloadBytes).then(finish)));
      } else {
        void coalescer.submit(message).then(finish);
      }
    },

    authorizeSubscribe(client, sub, done) {
      const device = devices.get(client);
      if (device !== undefined && deviceMaySubscribe(device, sub.topic)) return done(null, sub);
      logger.debug({ device, filter: sub.topic.slice(0, 200) }, 'mqtt subscription refused');
      done(null, null); // SUBACK 0x80 for this filter; the connection stays
    },
  });
  broker.on('clientDisconnect', (client) => validity.delete(client));
  broker.on('clientError', (client, err) => logger.debug({ client: client.id, err: err.message }, 'mqtt client error'));
  broker.on('connectionError', (_client, err) => logger.debug({ err: err.message }, 'mqtt connection error'));

  const onConnection = (socket: Socket): void => {
    socket.setNoDelay(true); // a PUBACK must not wait for Nagle
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (closing) {
      socket.destroy();
      return;
    }
    const client = broker.handle(socket);
    if (!guardPacketSize(client, packetLimit, (bytes) => {
      observer?.rejected('too_large');
      const device = devices.get(client);
      logger.debug({ device, bytes }, 'mqtt packet over the size limit; connection closed');
      if (device !== undefined) {
        const err = ingestErrors.STRATA_ERR_INGEST_TOO_LARGE({ reason: `packet of ${bytes} bytes is over the ${packetLimit}-byte limit; the connection was closed` });
        report(device, { code: err.code, status: err.statusCode, message: err.message, topic: telemetryTopic(device), bytes, at: new Date().toISOString() });
      }
    }) && !guardWarned) {
      guardWarned = true;
      logger.warn({}, 'mqtt packet size guard unavailable (aedes internals changed): oversized packets are buffered whole');
    }
  };

  const servers: Server[] = [];
  try {
    const plain = createServer(onConnection);
    servers.push(plain);
    const boundPort = await listen(plain, host, port);
    let tlsPort: number | undefined;
    if (tls) {
      const secure = createTlsServer({ cert: tls.cert, key: tls.key }, onConnection);
      secure.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'mqtt tls handshake failed'));
      servers.push(secure);
      tlsPort = await listen(secure, tls.host, tls.port);
    }
    for (const s of servers) s.on('error', (err) => logger.error({ err }, 'mqtt listener failed'));
    logger.info({ host, port: boundPort, ...(tlsPort !== undefined && { tlsPort }) }, 'mqtt broker listening');

    let closed: Promise<void> | undefined;
    return {
      port: boundPort,
      ...(tlsPort !== undefined && { tlsPort }),
      close() {
        closed ??= (async () => {
          closing = true;
          clearInterval(recheck);
          const stopped = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
          await inflight.drained();
          // aedes writes a PUBACK corked until the next tick, then calls back on setImmediate:
          // let those writes reach the sockets before closing them.
          await new Promise((resolve) => setImmediate(resolve));
          await new Promise((resolve) => setImmediate(resolve));
          await new Promise<void>((resolve) => broker.close(() => resolve()));
          for (const socket of sockets) socket.destroy(); // connections still in CONNECT
          await stopped;
          logger.info({}, 'mqtt broker closed');
        })();
        return closed;
      },
    };
  } catch (err) {
    clearInterval(recheck);
    for (const s of servers) s.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
}

/** Messages being ingested, and a wait for none. */
class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  start(): void {
    this.#count++;
  }

  end(): void {
    if (--this.#count === 0) for (const w of this.#waiters.splice(0)) w();
  }

  drained(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }
}

function asBuffer(payload: Buffer | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}

function checkPort(option: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option, reason: `${port} is not a port number (0-65535)` });
  return port;
}

function readConfigFile(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw ingestErrors.STRATA_ERR_INGEST_MQTT_BAD_CONFIG({ option, reason: `cannot read ${file}: ${(err as Error).message}` }, err);
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/** aedes' incoming QoS 2 store (persistence API), reached untyped: aedes types it `any`. */
async function isStoredQos2(broker: Aedes, client: Client, packet: PublishPacket): Promise<boolean> {
  const persistence = (broker as unknown as { persistence: { incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown> } }).persistence;
  try {
    await persistence.incomingGetPacket(client, packet);
    return true;
  } catch {
    return false;
  }
}

interface ParserInternals {
  packet: { length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * Closes the connection when a packet header announces more than `limit` bytes, before the
 * body is read. Hooks the client's mqtt-packet parser (aedes has no option for it); returns
 * false when the parser does not look as expected.
 */
function guardPacketSize(client: Client, limit: number, onTooLarge: (bytes: number) => void): boolean {
  const parser = (client as unknown as { _parser?: Partial<ParserInternals> })._parser;
  if (!parser || typeof parser._parseLength !== 'function' || typeof parser._emitError !== 'function') return false;
  const parseLength = parser._parseLength;
  parser._parseLength = function (this: ParserInternals): boolean {
    const complete = parseLength.call(this);
    if (complete && this.packet.length > limit) {
      onTooLarge(this.packet.length);
      this._emitError(new Error(`packet of ${this.packet.length} bytes is over the ${limit}-byte limit`));
      return false;
    }
    return complete;
  };
  return true;
}
