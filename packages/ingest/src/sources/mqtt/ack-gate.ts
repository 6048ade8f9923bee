/**
 * The transport between mqtt.js and the socket to the external broker, holding back PUBACKs
 * until Strata has made each message durable.
 *
 * Why: mqtt.js hands received messages to `handleMessage` one at a time and writes the PUBACK
 * when it calls back, so waiting there for the durable append would allow one message per
 * fsync. Instead the bridge calls back at once and this gate keeps the PUBACK mqtt.js writes
 * until the message's ticket is settled: `ack()` releases it, `fail()` closes the connection
 * (no PUBACK: the broker redelivers the message, and every other unacknowledged one, to this
 * session when it reconnects). The broker's in-flight window (MQTT 5 Receive Maximum,
 * mosquitto's `max_inflight_messages`) bounds how many messages wait.
 *
 * Invariants:
 * - PUBACKs leave in the order mqtt.js wrote them, which is the order the PUBLISHes arrived
 *   (MQTT-4.6.0-2): one whose message is not settled yet holds back those behind it.
 * - Every other packet (PINGREQ, SUBSCRIBE, PUBLISH of error reports, DISCONNECT) passes at once.
 * - Works on the wire format: the outgoing byte stream is cut into packets by the fixed header
 *   (type nibble, variable-length remaining length), so it does not depend on how mqtt.js
 *   splits its writes.
 */
import { Duplex } from 'node:stream';

const PUBACK = 4;

export interface AckTicket {
  /** The message is durable (or refused for good): its PUBACK may go. */
  ack(): void;
  /** The message could not be taken: drop the connection so the broker delivers it again. */
  fail(err: Error): void;
}

interface Held {
  settled: boolean;
  /** The PUBACK bytes, once mqtt.js wrote them. */
  frame?: Buffer;
}

export class AckGate extends Duplex {
  readonly #socket: Duplex;
  /** Messages expected to be acknowledged whose PUBACK mqtt.js has not written yet, by packet id. */
  readonly #expected = new Map<number, Held>();
  /** PUBACKs written by mqtt.js and not sent yet, in the order it wrote them. */
  readonly #queue: Held[] = [];
  #partial: Buffer = Buffer.alloc(0);
  #flushScheduled = false;

  constructor(socket: Duplex) {
    super();
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /**
   * Call before letting mqtt.js acknowledge QoS 1 message `messageId`: its PUBACK is held until
   * the ticket is settled. A ticket of a closed gate does nothing.
   */
  expect(messageId: number): AckTicket {
    const held: Held = { settled: false };
    this.#expected.set(messageId, held);
    return {
      ack: () => {
        held.settled = true;
        this.#scheduleFlush();
      },
      fail: (err) => {
        if (!this.destroyed) this.destroy(err);
      },
    };
  }

  /** Messages whose PUBACK has not been sent yet. */
  get pending(): number {
    return this.#expected.size + this.#queue.length;
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#route(chunk);
    callback();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.#route(Buffer.concat(chunks.map((c) => c.chunk)));
    callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#socket.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#expected.clear();
    this.#queue.length = 0;
    this.#socket.destroy();
    callback(err);
  }

  /** Splits outgoing bytes into packets: PUBACKs join the queue, the rest go at once. */
  #route(chunk: Buffer): void {
    const buf = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    const pass: Buffer[] = [];
    let passFrom = 0;
    let i = 0;
    for (;;) {
      const frameEnd = packetEnd(buf, i);
      if (frameEnd < 0) break;
      if (buf[i]! >> 4 === PUBACK) {
        if (i > passFrom) pass.push(buf.subarray(passFrom, i));
        const messageId = buf.readUInt16BE(i + headerLength(buf, i));
        const frame = Buffer.from(buf.subarray(i, frameEnd));
        const held = this.#expected.get(messageId);
        this.#expected.delete(messageId);
        // One nobody waits for still keeps its place in the line.
        this.#queue.push(held ? Object.assign(held, { frame }) : { settled: true, frame });
        passFrom = frameEnd;
      }
      i = frameEnd;
    }
    // Everything else passes in order; an unfinished packet waits for the rest of its bytes.
    if (i > passFrom) pass.push(buf.subarray(passFrom, i));
    if (pass.length > 0) this.#socket.write(pass.length === 1 ? pass[0]! : Buffer.concat(pass));
    this.#partial = i < buf.length ? Buffer.from(buf.subarray(i)) : Buffer.alloc(0);
    this.#flush();
  }

  /** Flushes once after the current run of code: the acks of one group commit leave in one write. */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Sends the queued PUBACKs at the head of the line whose messages are settled, in one write. */
  #flush(): void {
    let n = 0;
    while (n < this.#queue.length && this.#queue[n]!.settled) n++;
    if (n === 0 || this.destroyed) return;
    const frames = this.#queue.splice(0, n).map((h) => h.frame!);
    this.#socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }
}

/** Length of the fixed header (type byte + remaining length) of the packet at `i`. */
function headerLength(buf: Buffer, i: number): number {
  let n = 1;
  while (buf[i + n]! & 0x80) n++;
  return n + 1;
}

/** End offset of the complete packet starting at `i`, or -1 when its bytes are not all there yet. */
function packetEnd(buf: Buffer, i: number): number {
  let length = 0;
  let multiplier = 1;
  for (let n = 1; n <= 4; n++) {
    if (i + n >= buf.length) return -1;
    const byte = buf[i + n]!;
    length += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      const end = i + n + 1 + length;
      return end <= buf.length ? end : -1;
    }
    multiplier *= 128;
  }
  throw new Error('malformed MQTT remaining length in outgoing packet');
}
