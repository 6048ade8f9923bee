import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lakeDevices } from './lake-devices.js';
import { openTestDatabase, type TestDb } from './testing.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(() => db.dispose());

describe('lakeDevices', () => {
  it('is empty without devices', async () => {
    expect(await lakeDevices(db)).toEqual([]);
  });

  it('takes site and model from metadata, else tags, and a positive sampling interval', async () => {
    const device = (id: string, kind: 'machine' | 'patient' | 'sensor', metadata: object, tags: Record<string, string> = {}) => ({
      id,
      kind,
      name: null,
      metadata: JSON.stringify(metadata),
      tags: JSON.stringify(tags),
    });
    await db.kysely
      .insertInto('devices')
      .values([
        device('m-1', 'machine', { site: 'plant-a', model: 'X200', sampleIntervalSeconds: 10, notes: 'x'.repeat(1000) }, { site: 'ignored', model: 'ignored' }),
        device('m-2', 'machine', { sampleIntervalSeconds: 0 }, { site: 'plant-b', model: 'X100' }),
        device('p-1', 'patient', { site: null, model: 7, sampleIntervalSeconds: '60' }, { site: 'ward-3' }),
        device('s-1', 'sensor', { site: { building: 1 }, sampleIntervalSeconds: 0.5 }),
        device('s-2', 'sensor', { sampleIntervalSeconds: -5 }),
      ])
      .execute();
    expect(await lakeDevices(db)).toEqual([
      { id: 'm-1', kind: 'machine', site: 'plant-a', model: 'X200', sampleIntervalSeconds: 10 },
      { id: 'm-2', kind: 'machine', site: 'plant-b', model: 'X100', sampleIntervalSeconds: null },
      { id: 'p-1', kind: 'patient', site: 'ward-3', model: '7', sampleIntervalSeconds: null },
      { id: 's-1', kind: 'sensor', site: null, model: null, sampleIntervalSeconds: 0.5 },
      { id: 's-2', kind: 'sensor', site: null, model: null, sampleIntervalSeconds: null },
    ]);
  });
});
