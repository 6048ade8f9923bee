/**
 * How one record is stored as one JetStream message (payload = envelope, little-endian):
 *
 *   u8 version (1) | u8 flags (1: has id, 2: has ts) | u16 keyLength | key (UTF-8)
 *   [u16 idLength | id (UTF-8)]   when flags & 1
 *   [f64 ts]                      when flags & 2 (else the record's ts is its append time)
 *   value (the rest)
 *
 * The only header is `Nats-Msg-Id` (records with an id): JetStream's dedup key, built from the
 * key AND the id so two devices may use the same id.
 */
import { createHash } from 'node:crypto';

export const ENVELOPE_VERSION = 1;
const HAS_ID = 1;
const HAS_TS = 2;
export const MAX_FIELD_BYTES = 0xffff;

export interface DecodedRecord {
  key: string;
  id: string | undefined;
  ts: number | undefined;
  value: Buffer;
}

export function encodeRecord(key: string, id: string | undefined, ts: number | undefined, value: Uint8Array): Buffer {
  const keyBytes = Buffer.byteLength(key);
  const idBytes = id === undefined ? 0 : Buffer.byteLength(id);
  const size = 4 + keyBytes + (id === undefined ? 0 : 2 + idBytes) + (ts === undefined ? 0 : 8) + value.byteLength;
  const buf = Buffer.allocUnsafe(size);
  buf[0] = ENVELOPE_VERSION;
  buf[1] = (id === undefined ? 0 : HAS_ID) | (ts === undefined ? 0 : HAS_TS);
  buf.writeUInt16LE(keyBytes, 2);
  let off = 4 + buf.write(key, 4, 'utf8');
  if (id !== undefined) {
    buf.writeUInt16LE(idBytes, off);
    off += 2 + buf.write(id, off + 2, 'utf8');
  }
  if (ts !== undefined) {
    buf.writeDoubleLE(ts, off);
    off += 8;
  }
  buf.set(value, off);
  return buf;
}

/** Decodes an envelope; returns a reason string when it is not one (the message is not served). */
export function decodeRecord(data: Uint8Array): DecodedRecord | string {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 4) return 'message shorter than an envelope header';
  if (buf[0] !== ENVELOPE_VERSION) return `unknown envelope version ${buf[0]}`;
  const flags = buf[1]!;
  const keyLen = buf.readUInt16LE(2);
  let off = 4;
  if (off + keyLen > buf.length) return 'key runs past the end of the message';
  const key = buf.toString('utf8', off, off + keyLen);
  off += keyLen;
  let id: string | undefined;
  if (flags & HAS_ID) {
    if (off + 2 > buf.length) return 'id length runs past the end of the message';
    const idLen = buf.readUInt16LE(off);
    off += 2;
    if (off + idLen > buf.length) return 'id runs past the end of the message';
    id = buf.toString('utf8', off, off + idLen);
    off += idLen;
  }
  let ts: number | undefined;
  if (flags & HAS_TS) {
    if (off + 8 > buf.length) return 'ts runs past the end of the message';
    ts = buf.readDoubleLE(off);
    off += 8;
  }
  // A copy: the message data is a view of the connection's read buffer.
  return { key, id, ts, value: Buffer.from(buf.subarray(off)) };
}

const HEADER_SAFE = /^[\x21-\x7e]{0,200}$/;

/**
 * The `Nats-Msg-Id` of a record: `<key length>:<key>:<id>` when both are short printable ASCII
 * (readable in tools), else `h:` + SHA-256 of the same; either way distinct for distinct (key, id).
 */
export function dedupId(key: string, id: string): string {
  const plain = `${key.length}:${key}:${id}`;
  if (HEADER_SAFE.test(key) && HEADER_SAFE.test(id)) return plain;
  return `h:${createHash('sha256').update(plain).digest('base64url')}`;
}
