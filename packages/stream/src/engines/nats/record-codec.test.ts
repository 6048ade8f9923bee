import { describe, expect, it } from 'vitest';
import { parseAckSubject } from './fetcher.js';
import { decodeRecord, dedupId, encodeRecord } from './record-codec.js';

describe('NATS record envelope', () => {
  it('round-trips key, id, event time and value, with and without the optional fields', () => {
    const value = new Uint8Array([0, 255, 1, 254, 10, 13]);
    expect(decodeRecord(encodeRecord('capteur-é-✓', 'e2', 1_700_000_000_456.5, value))).toEqual({ key: 'capteur-é-✓', id: 'e2', ts: 1_700_000_000_456.5, value: Buffer.from(value) });
    expect(decodeRecord(encodeRecord('device-1', undefined, undefined, new Uint8Array(0)))).toEqual({ key: 'device-1', id: undefined, ts: undefined, value: Buffer.alloc(0) });
  });

  it('refuses messages that are not envelopes instead of serving garbage', () => {
    expect(decodeRecord(Buffer.from('{"hello":1}'))).toMatch(/unknown envelope version/);
    expect(decodeRecord(encodeRecord('device-1', 'id', 1, Buffer.from('x')).subarray(0, 8))).toMatch(/past the end/);
    expect(decodeRecord(new Uint8Array(2))).toMatch(/shorter/);
  });

  it('builds distinct dedup ids for distinct (key, id), readable when plain ASCII', () => {
    expect(dedupId('device-a', 'reading-1')).toBe('8:device-a:reading-1');
    expect(dedupId('device-a', 'reading-1')).not.toBe(dedupId('device-b', 'reading-1'));
    expect(dedupId('a:b', 'c')).not.toBe(dedupId('a', 'b:c'));
    const hashed = dedupId('capteur-é', 'id with spaces\r\n');
    expect(hashed).toMatch(/^h:[A-Za-z0-9_-]{43}$/);
    expect(hashed).not.toBe(dedupId('capteur-é', 'id with spaces'));
  });

  it('reads the stream sequence, consumer sequence and time from a delivery reply subject (v1 and v2)', () => {
    expect(parseAckSubject('$JS.ACK.s-0.c1.1.42.7.1795323657217482073.3')).toEqual({ consumer: 'c1', seq: 42, consumerSeq: 7, timeMs: 1795323657217 });
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH.s-0.c1.2.42.7.1795323657217482073.3.rnd')).toEqual({ consumer: 'c1', seq: 42, consumerSeq: 7, timeMs: 1795323657217 });
    expect(parseAckSubject('_INBOX.abc')).toBeNull();
  });
});
