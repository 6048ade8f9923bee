import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_INGEST_LIMITS } from '@strata/core';
import { ingestErrors } from '../errors.js';
import { prepareBatch, type PrepareContext, type PreparedBatch } from '../prepare.js';
import { ParsePool } from './pool.js';

const pool = new ParsePool({ workers: 2 });
afterAll(() => pool.close());

const ctx: PrepareContext = { nowMs: Date.UTC(2026, 0, 1), limits: DEFAULT_INGEST_LIMITS, source: 'http' };

/** Records as plain data, so inline and pooled results compare with toEqual. */
function plain(p: PreparedBatch) {
  return p.ok ? { ...p, records: p.records.map((r) => ({ ...r, value: Buffer.from(r.value).toString('utf8') })) } : p;
}

describe('ParsePool', () => {
  it('gives exactly what parsing inline gives, for valid batches and garbage alike', async () => {
    const event = fc.record({
      id: fc.stringMatching(/^[a-z0-9-]{1,20}$/),
      sensorId: fc.constantFrom('pump-1', 'pump-2', 'patient-7'),
      temperature: fc.double({ noNaN: true, noDefaultInfinity: true, min: -50, max: 150 }),
      timestamp: fc.date({ min: new Date('2025-01-01'), max: new Date('2025-12-31'), noInvalidDate: true }).map((d) => d.toISOString()),
    });
    const body = fc.oneof(
      fc.array(event, { minLength: 1, maxLength: 300 }).map((events) => JSON.stringify(events)),
      fc.json(),
      fc.string(),
    );
    const type = fc.constantFrom('application/json', 'application/x-ndjson', 'application/senml+json', 'text/csv');
    const device = fc.option(fc.constantFrom('pump-1', 'pump-2'), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(body, type, device, async (text, contentType, dev) => {
        const c = { ...ctx, ...(dev !== undefined && { device: dev }) };
        const inline = prepareBatch(Buffer.from(text), contentType, c);
        const pooled = await pool.prepare(Buffer.from(text), contentType, c);
        expect(plain(pooled)).toEqual(plain(inline));
      }),
      { numRuns: 150 },
    );
  });

  it('fails the jobs of a worker that dies with a retryable error, replaces it, and parses inline while a crash loop backs off', async () => {
    const errors: Error[] = [];
    const dying = new ParsePool({ workers: 1, workerUrl: new URL('./fixtures/dying-worker.js', import.meta.url), onWorkerError: (e) => errors.push(e) });
    const body = Buffer.from('{"sensorId":"s","v":1}');
    const first = await dying.prepare(body, 'application/json', ctx).catch((e: unknown) => e);
    expect(ingestErrors.STRATA_ERR_INGEST_UNAVAILABLE.is(first)).toBe(true);
    // The immediate replacement dies on its first job too (that is all the fixture does)…
    await expect(dying.prepare(body, 'application/json', ctx)).rejects.toThrow(/cannot take data now/);
    expect(errors).toHaveLength(2);
    // …so the next one waits out a backoff, and jobs are parsed inline meanwhile instead of failing.
    const inline = await dying.prepare(body, 'application/json', ctx);
    expect(inline).toMatchObject({ ok: true, bytes: expect.any(Number) });
    expect(errors).toHaveLength(2);
    await dying.close();
  });

  it('refuses new jobs once closed', async () => {
    const closing = new ParsePool({ workers: 1 });
    await closing.close();
    await expect(closing.prepare(Buffer.from('{}'), 'application/json', ctx)).rejects.toThrow(/shutting down/);
  });
});
