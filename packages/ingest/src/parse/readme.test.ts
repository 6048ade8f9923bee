import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIngestBody } from './index.js';
import { ctx } from './test-support.js';

// Keeps the curl examples in the package README ("Payload formats") valid.
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const examples = [...readme.matchAll(/-H 'Content-Type: ([^']+)' \\\n\s+--data-binary '([^']+)'/g)].map((m) => [m[1]!, m[2]!] as const);

describe('README examples', () => {
  it('has examples for every inline format', () => {
    expect(new Set(examples.map(([type]) => type))).toEqual(new Set(['application/json', 'application/senml+json']));
  });

  it.each(examples)('%s example is accepted', (type, body) => {
    const r = parseIngestBody(body, type, ctx);
    expect(r.ok ? [] : r.issues).toEqual([]);
    expect(r.ok && r.events.length).toBeGreaterThan(0);
  });
});
