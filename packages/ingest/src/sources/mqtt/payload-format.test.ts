import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIngestBody } from '../../parse/index.js';
import { canonicalItem, ctx, eventArb, offsetArb, senmlPack } from '../../parse/test-support.js';
import { JSON_TYPE, NDJSON_TYPE, SENML_TYPE, payloadContentType, sniffContentType } from './payload-format.js';

const sniff = (s: string | Buffer): string => sniffContentType(Buffer.isBuffer(s) ? s : Buffer.from(s));

describe('payload content type without MQTT 5 properties (sniffed)', () => {
  it('tells the four payload shapes apart', () => {
    expect(sniff('{"sensorId":"s-1","temperature":21.5}')).toBe(JSON_TYPE);
    expect(sniff('[{"sensorId":"s-1","temperature":21.5},{"sensorId":"s-1","temperature":21.7}]')).toBe(JSON_TYPE);
    expect(sniff('{"sensorId":"s-1","t":1}\n{"sensorId":"s-1","t":2}\n')).toBe(NDJSON_TYPE);
    expect(sniff('{"sensorId":"s-1","t":1}\r\n\r\n  {"sensorId":"s-1","t":2}')).toBe(NDJSON_TYPE);
    expect(sniff('[{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1}]')).toBe(SENML_TYPE);
    expect(sniff('[{"bt":1764849600, "bn":"dev-1/","n":"t","v":1}]')).toBe(SENML_TYPE);
  });

  it('takes a pretty-printed object, a single line with a trailing newline, and a byte order mark as JSON', () => {
    expect(sniff(JSON.stringify({ sensorId: 's-1', tags: { ward: 'B' }, temperature: 1 }, null, 2))).toBe(JSON_TYPE);
    expect(sniff('{"sensorId":"s-1","temperature":1}\n')).toBe(JSON_TYPE);
    expect(sniff('\ufeff{"sensorId":"s-1","temperature":1}')).toBe(JSON_TYPE);
    expect(sniff('{"a":{"b":1}\n}')).toBe(JSON_TYPE);
  });

  it('looks only at top-level keys of the first record for SenML', () => {
    expect(sniff('[{"sensorId":"s-1","tags":{"bn":"x"},"t":1}]')).toBe(JSON_TYPE);
    expect(sniff('[{"sensorId":"s-1","note":"\\"bn\\"","t":1}]')).toBe(JSON_TYPE);
    expect(sniff('[{"tags":{"a":[1,{"b":2}]},"bn":"d:","n":"t","v":1}]')).toBe(SENML_TYPE);
  });

  it('calls anything else JSON, so the parser explains what is wrong', () => {
    for (const junk of ['', '   ', 'hello', '42', 'null', '[', '{', '[{"bn', Buffer.from([0xff, 0xfe, 0x00, 0x80])]) {
      expect(sniff(junk)).toBe(JSON_TYPE);
    }
  });

  it('uses the MQTT 5 content-type property when the publisher set one', () => {
    expect(payloadContentType(Buffer.from('{"a":1}'), 'application/senml+json')).toBe('application/senml+json');
    expect(payloadContentType(Buffer.from('{"a":1}'), 'text/plain')).toBe('text/plain');
    expect(payloadContentType(Buffer.from('{"a":1}'), '')).toBe(JSON_TYPE);
    expect(payloadContentType(Buffer.from('{"a":1}'), undefined)).toBe(JSON_TYPE);
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect([JSON_TYPE, NDJSON_TYPE, SENML_TYPE]).toContain(sniff(Buffer.from(bytes)));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect([JSON_TYPE, NDJSON_TYPE, SENML_TYPE]).toContain(sniff(text));
      }),
      { numRuns: 1000 },
    );
  });

  it('picks a type the parser accepts for every valid payload in each format', () => {
    const events = fc.array(eventArb({ tags: false }), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(events, fc.oneof(fc.constant<'ms'>('ms'), offsetArb), fc.constantFrom('object', 'array', 'pretty', 'ndjson', 'senml'), (evs, time, shape) => {
        const items = evs.map((ev) => canonicalItem(ev, time));
        const body =
          shape === 'object' ? JSON.stringify(items[0])
          : shape === 'array' ? JSON.stringify(items)
          : shape === 'pretty' ? JSON.stringify(items, null, 2)
          : shape === 'ndjson' ? items.map((i) => JSON.stringify(i) + '\n').join('')
          : JSON.stringify(senmlPack(evs));
        const type = sniff(body);
        // One NDJSON line is also one JSON object: either reading is right.
        if (shape === 'ndjson' && items.length > 1) expect(type).toBe(NDJSON_TYPE);
        if (shape === 'senml') expect(type).toBe(SENML_TYPE);
        expect(parseIngestBody(body, type, ctx).ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
