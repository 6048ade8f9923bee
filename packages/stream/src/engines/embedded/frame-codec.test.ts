import { describe, expect, it } from 'vitest';
import type { StreamRecord } from '../../types.js';
import { checkFrame, decodeRecords, encodeFrame, frameDedupKeys, FRAME_OVERHEAD_BYTES } from './frame-codec.js';
import { dedupKey } from './dedup-window.js';

const recs = [
  { key: 'device-1', id: 'a', ts: 1_700_000_000_001, value: Buffer.from('{"x":1}') },
  { key: 'clé-ü', value: new Uint8Array([0, 1, 2]) },
  { key: '', id: 'c', value: new Uint8Array(0) },
];

describe('frame codec', () => {
  it('round-trips a batch and gives each record its offset', () => {
    const frame = encodeFrame(recs, [0, 1, 2], 41, 1_700_000_000_500);
    const check = checkFrame(frame, 0, frame.length);
    expect(check).toEqual({ ok: true, header: { bodyLength: frame.length - 8, baseOffset: 41, appendTime: 1_700_000_000_500, count: 3 } });
    const out: StreamRecord[] = [];
    decodeRecords(frame, 0, 't', 2, 42, 10, out);
    expect(out.map((r) => [r.offset, r.key, r.id, r.ts, [...r.value]])).toEqual([
      [42, 'clé-ü', undefined, 1_700_000_000_500, [0, 1, 2]],
      [43, '', 'c', 1_700_000_000_500, []],
    ]);
    expect(frameDedupKeys(frame, 0)).toEqual([dedupKey('device-1', 'a'), undefined, dedupKey('', 'c')]);
  });

  it('only encodes the records it is given, in the order given', () => {
    const frame = encodeFrame(recs, [2, 0], 0, 5);
    const out: StreamRecord[] = [];
    decodeRecords(frame, 0, 't', 0, 0, 10, out);
    expect(out.map((r) => r.id)).toEqual(['c', 'a']);
  });

  it('tells a torn frame from a corrupt one', () => {
    const frame = encodeFrame(recs, [0, 1, 2], 0, 5);
    expect(checkFrame(frame, 0, 5)).toMatchObject({ ok: false, torn: true });
    expect(checkFrame(frame, 0, frame.length - 1)).toMatchObject({ ok: false, torn: true, reason: 'short frame body' });
    const flipped = Buffer.from(frame);
    flipped[FRAME_OVERHEAD_BYTES + 3]! ^= 0x10;
    expect(checkFrame(flipped, 0, flipped.length)).toEqual({ ok: false, torn: false, reason: 'crc mismatch' });
    const badLength = Buffer.from(frame);
    badLength.writeUInt32LE(3, 0);
    expect(checkFrame(badLength, 0, badLength.length)).toMatchObject({ ok: false, torn: false, reason: 'impossible frame length 3' });
  });
});
