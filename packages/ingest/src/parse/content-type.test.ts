import { describe, expect, it } from 'vitest';
import { formatFor } from './content-type.js';

describe('formatFor', () => {
  it.each([
    ['application/json', 'json'],
    ['Application/JSON; charset=UTF-8', 'json'],
    ['application/json;charset="utf-8"', 'json'],
    ['application/json; foo=bar', 'json'],
    ['application/x-ndjson', 'ndjson'],
    ['application/ndjson; charset=utf-8', 'ndjson'],
    ['application/senml+json', 'senml'],
    [' APPLICATION/SENML+JSON ', 'senml'],
  ])('%s → %s', (header, format) => {
    expect(formatFor(header)).toBe(format);
  });

  it.each([
    [undefined, /^no Content-Type; send one of application\/json, application\/x-ndjson, application\/ndjson, application\/senml\+json$/],
    ['', /^no Content-Type/],
    ['text/plain', /^"text\/plain" is not accepted; send one of application\/json/],
    ['application/xml', /not accepted/],
    ['application/senml+cbor', /not accepted/],
    ['application/json; charset=latin1', /^charset "latin1" is not accepted; bodies must be UTF-8/],
    ['application/json; charset=utf-16', /charset "utf-16"/],
    ['toString', /not accepted/],
  ])('rejects %s', (header, reason) => {
    const r = formatFor(header);
    expect(typeof r).toBe('object');
    expect((r as { reason: string }).reason).toMatch(reason);
  });
});
