import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../test-platform.js';
import { auth, ingest } from './test-support.js';

// Days older than the store's rollup retention (30 days by default) have no rollups: the state
// consumer counts such events as too old. Their series come from the lake.
const DAY_MS = 86_400_000;
const oldDay = new Date(Math.floor(Date.now() / DAY_MS - 40) * DAY_MS);
const at = (minute: number) => new Date(oldDay.getTime() + 10 * 3_600_000 + minute * 60_000).toISOString();

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
  await ingest(t, [
    { device: 'old-1', ts: at(0), metrics: { temperature: 20 } },
    { device: 'old-1', ts: at(10), metrics: { temperature: 24 } },
    { device: 'old-1', ts: at(70), metrics: { temperature: 30 } },
    { device: 'old-1', ts: new Date().toISOString(), metrics: { temperature: 50 } },
  ]);
  const flushed = await t.platform.app.inject({ method: 'POST', url: '/v1/admin/flush', headers: auth(t.adminKey) });
  expect(flushed.statusCode, flushed.body).toBe(200);
});
afterAll(async () => t.close());

const seriesOf = async (from: string, to: string) => {
  const res = await t.platform.app.inject({ method: 'GET', url: `/v1/devices/old-1/series?metric=temperature&from=${from}&to=${to}&step=1h`, headers: auth(t.adminKey) });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { buckets: Array<{ start: string; count: number; min: number | null; max: number | null; avg: number | null; stddev: number | null }> }).buckets;
};

describe('GET /v1/devices/:id/series before the store retention', () => {
  it('is empty until the lake holds the days, then answers from silver', async () => {
    // The device exists (its recent event registered it) but its old rollups do not.
    await expect.poll(async () => (await t.platform.app.inject({ method: 'GET', url: '/v1/devices/old-1', headers: auth(t.adminKey) })).statusCode).toBe(200);
    const from = at(0);
    const to = at(120);
    expect((await seriesOf(from, to)).map((b) => b.count)).toEqual([0, 0]);

    await t.platform.lake!.run();
    // Operators see the lake's work in /metrics (the scheduler may have run too: at least ours).
    const metrics = (await t.platform.app.inject({ method: 'GET', url: '/metrics', headers: auth(t.adminKey) })).body;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(value('strata_lake_runs_total')).toBeGreaterThanOrEqual(1);
    expect(value('strata_lake_failed_runs_total')).toBe(0);
    expect(value('strata_lake_bronze_rows_total')).toBe(4);
    expect(value('strata_lake_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 600);
    expect(await seriesOf(from, to)).toEqual([
      { start: from, count: 2, min: 20, max: 24, avg: 22, stddev: 2 },
      { start: at(60), count: 1, min: 30, max: 30, avg: 30, stddev: 0 },
    ]);
  });
});
