import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AckGate } from './ack-gate.js';

/** A stand-in socket: records what is written to it; `push` feeds what the broker "sends". */
function fakeSocket(): Duplex & { written: Buffer[] } {
  const written: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      cb();
    },
  });
  return Object.assign(socket, { written });
}

/** Acks are flushed once the current run of code is over (a microtask). */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** MQTT 3.1.1 PUBACK and PINGREQ, byte for byte (§3.4, §3.12). */
const puback = (messageId: number): Buffer => Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);
const pingreq = Buffer.from([0xc0, 0x00]);
/** The packets written to the socket, as `puback:id` or `pingreq` (all are short: one length byte). */
function sent(socket: { written: Buffer[] }): string[] {
  const bytes = Buffer.concat(socket.written);
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 2 + bytes[i + 1]!) {
    out.push(bytes[i] === 0x40 ? `puback:${bytes.readUInt16BE(i + 2)}` : bytes[i] === 0xc0 ? 'pingreq' : `0x${bytes[i]!.toString(16)}`);
  }
  return out;
}

describe('AckGate', () => {
  it('holds each PUBACK until its message is settled, and sends them in the order they were written', async () => {
    const socket = fakeSocket();
    const gate = new AckGate(socket);
    const t1 = gate.expect(1);
    const t2 = gate.expect(2);
    const t3 = gate.expect(3);
    gate.write(puback(1));
    gate.write(puback(2));
    gate.write(pingreq); // other packets pass at once
    gate.write(puback(3));
    expect(sent(socket)).toEqual(['pingreq']);
    t2.ack(); // durable, but 1 is not: 2 waits behind it
    await settled();
    expect(sent(socket)).toEqual(['pingreq']);
    t1.ack();
    await settled();
    expect(sent(socket)).toEqual(['pingreq', 'puback:1', 'puback:2']);
    t3.ack();
    await settled();
    expect(sent(socket)).toEqual(['pingreq', 'puback:1', 'puback:2', 'puback:3']);
    expect(gate.pending).toBe(0);
    gate.destroy();
  });

  it('cuts packets out of writes however they are split; a PUBACK nobody waits for keeps its place in line', async () => {
    const socket = fakeSocket();
    const gate = new AckGate(socket);
    const t7 = gate.expect(7);
    const bytes = Buffer.concat([pingreq, puback(7), puback(9), pingreq]);
    for (const b of bytes) gate.write(Buffer.from([b])); // one byte at a time
    expect(sent(socket)).toEqual(['pingreq', 'pingreq']);
    t7.ack();
    await settled();
    expect(sent(socket)).toEqual(['pingreq', 'pingreq', 'puback:7', 'puback:9']);
    gate.destroy();
  });

  it('settles a ticket before its PUBACK is written: the PUBACK goes as soon as it comes', async () => {
    const socket = fakeSocket();
    const gate = new AckGate(socket);
    gate.expect(4).ack();
    await settled();
    gate.write(puback(4));
    expect(sent(socket)).toEqual(['puback:4']);
    gate.destroy();
  });

  it('closes the connection without the PUBACK when a message fails, and ignores later tickets', async () => {
    const socket = fakeSocket();
    const gate = new AckGate(socket);
    const t1 = gate.expect(1);
    const t2 = gate.expect(2);
    gate.write(puback(1));
    gate.write(puback(2));
    const closed = new Promise((resolve) => gate.once('close', resolve));
    const failed = new Promise<Error>((resolve) => gate.once('error', resolve));
    t1.fail(new Error('stream full'));
    expect((await failed).message).toBe('stream full');
    t2.ack();
    await closed;
    expect(socket.destroyed).toBe(true);
    expect(sent(socket)).toEqual([]);
  });

  it('passes what the broker sends up to mqtt.js', async () => {
    const socket = fakeSocket();
    const gate = new AckGate(socket);
    const got = new Promise<Buffer>((resolve) => gate.once('data', resolve));
    socket.push(Buffer.from([0xd0, 0x00])); // PINGRESP
    expect(await got).toEqual(Buffer.from([0xd0, 0x00]));
    gate.destroy();
  });
});
