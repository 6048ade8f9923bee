import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { tempDir } from '@strata/testkit';
import { parseLabelledCsv } from '../data/labelled-csv.js';
import { mlErrors } from '../errors.js';
import { AI4I_SCHEMA } from '../features/schema.js';
import { predict } from '../artifact/predict.js';
import { trainModel, type ModelArtifact } from '../artifact/train.js';
import { ai4iCsv } from '../testing.js';
import { ModelRegistry, parseModelRef } from './registry.js';
import type { MlDb } from './schema.js';

const data = parseLabelledCsv(ai4iCsv(800), AI4I_SCHEMA, { source: 'generated.csv' });
const train = (seed: number): ModelArtifact => trainModel(data, AI4I_SCHEMA, { kind: 'gbt', seed, gbt: { nTrees: 5, maxDepth: 3 } });
const row = { type: 'M', airTemperatureK: 298.1, processTemperatureK: 308.6, rotationalSpeedRpm: 1551, torqueNm: 42.8, toolWearMin: 120 };

let db: TestDb;
let store: ObjectStore;
const lake = tempDir('ml-registry');
const registry = () => new ModelRegistry({ db: db.kysely as unknown as MlDb, store, maxAgeMs: 0 });

beforeAll(async () => {
  db = await openTestDatabase();
  store = await openLocalStore({ root: lake.dir });
});
afterAll(async () => {
  await store.close();
  await db.dispose();
  lake.remove();
});

describe('the model registry', () => {
  it('registers versions 1, 2, … per name, the object under ml/models/<name>/v<n>.json, and lists them', async () => {
    const r = registry();
    const a = train(1);
    expect(await r.register(a, { name: 'reg', createdBy: 'user:ada' })).toEqual({ name: 'reg', version: 1, created: true });
    expect(await r.register(train(2), { name: 'reg', createdBy: 'user:ada' })).toEqual({ name: 'reg', version: 2, created: true });
    expect(await r.register(train(3), { name: 'other', createdBy: 'cli:bob' })).toEqual({ name: 'other', version: 1, created: true });
    expect(JSON.parse((await store.get('ml/models/reg/v1.json'))!.toString('utf8'))).toEqual(a);

    const listed = await r.list();
    expect(listed.map((m) => `${m.name}@${m.version}`)).toEqual(['other@1', 'reg@1', 'reg@2']);
    expect(listed[1]).toMatchObject({
      kind: 'gbt',
      objectKey: 'ml/models/reg/v1.json',
      data: { sha256: data.sha256, source: 'generated.csv' },
      metrics: { threshold: a.threshold, validation: a.metrics.validation, test: a.metrics.test },
      featureNames: AI4I_SCHEMA.features.map((f) => f.name),
      createdBy: 'user:ada',
      active: false,
      activated: null,
    });
    expect((await r.list('reg')).map((m) => m.version)).toEqual([1, 2]);
    const loaded = await r.get('reg', 1);
    expect(predict(loaded.artifact, [row])).toEqual(predict(a, [row]));
  });

  it('answers the existing version for the same bytes under the same name', async () => {
    const r = registry();
    const again = await r.register(train(1), { name: 'reg', createdBy: 'user:eve' });
    expect(again).toEqual({ name: 'reg', version: 1, created: false });
    expect((await r.list('reg')).map((m) => m.version)).toEqual([1, 2]);
  });

  it('keeps at most one active version per name, switching in one step', async () => {
    const r = registry();
    await expect(r.active('reg')).rejects.toMatchObject({ code: mlErrors.STRATA_ERR_ML_NO_ACTIVE_MODEL.code, statusCode: 409 });
    expect(await r.activate('reg', 1)).toEqual({ name: 'reg', version: 1, previous: null });
    expect((await r.active('reg')).record.version).toBe(1);
    expect(await r.activate('reg', 2)).toEqual({ name: 'reg', version: 2, previous: 1 });
    expect(await r.activate('reg', 2)).toEqual({ name: 'reg', version: 2, previous: 2 });
    expect((await r.list('reg')).map((m) => [m.version, m.active])).toEqual([[1, false], [2, true]]);
    expect((await r.active('reg')).record.version).toBe(2);
    // Without a version, `get` means the active one.
    expect((await r.get('reg')).record.version).toBe(2);
    await expect(r.activate('reg', 9)).rejects.toMatchObject({ code: mlErrors.STRATA_ERR_ML_MODEL_NOT_FOUND.code, statusCode: 404 });
    // The database itself refuses a second active version.
    await expect(db.kysely.updateTable('ml_models' as never).set({ active: true } as never).where('name' as never, '=', 'reg' as never).execute()).rejects.toThrow(/ml_models_one_active/);
  });

  it('sees another process switch the active version once its cache is older than maxAgeMs', async () => {
    let now = 0;
    const poller = new ModelRegistry({ db: db.kysely as unknown as MlDb, store, maxAgeMs: 1000, now: () => now });
    expect((await poller.active('reg')).record.version).toBe(2);
    await registry().activate('reg', 1);
    now = 999;
    expect((await poller.active('reg')).record.version).toBe(2);
    now = 1000;
    expect((await poller.active('reg')).record.version).toBe(1);
  });

  it('refuses an object changed after registration, naming it', async () => {
    const r = registry();
    await r.register(train(4), { name: 'tamper', createdBy: 'test' });
    const key = 'ml/models/tamper/v1.json';
    const text = (await store.get(key))!.toString('utf8');
    await store.put(key, Buffer.from(text.replace('"threshold":', '"threshold":0.0001,"x":'), 'utf8'));
    const err = await r.get('tamper', 1).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: mlErrors.STRATA_ERR_ML_INTEGRITY.code, statusCode: 500 });
    expect((err as Error).message).toContain(key);
    await expect(r.activate('tamper', 1)).rejects.toMatchObject({ code: mlErrors.STRATA_ERR_ML_INTEGRITY.code });
    await store.delete(key);
    await expect(r.get('tamper', 1)).rejects.toThrow(/ml\/models\/tamper\/v1.json is missing/);
  });

  it('gives concurrent registers of one name distinct versions', async () => {
    const artifacts = [10, 11, 12, 13, 14].map(train);
    const results = await Promise.all(artifacts.map((a, i) => (i % 2 === 0 ? registry() : registry()).register(a, { name: 'race', createdBy: 'test' })));
    expect(results.map((x) => x.version).sort()).toEqual([1, 2, 3, 4, 5]);
    const r = registry();
    for (const [i, a] of artifacts.entries()) {
      const { artifact } = await r.get('race', results[i]!.version);
      expect(artifact.seed).toBe(a.seed);
    }
  });

  it('refuses bad names and references', async () => {
    await expect(registry().register(train(1), { name: 'Bad Name', createdBy: 'test' })).rejects.toMatchObject({ code: mlErrors.STRATA_ERR_ML_BAD_MODEL_NAME.code });
    expect(parseModelRef('pm')).toEqual({ name: 'pm' });
    expect(parseModelRef('pm@3')).toEqual({ name: 'pm', version: 3 });
    expect(parseModelRef('pm@v3')).toEqual({ name: 'pm', version: 3 });
    for (const bad of ['', 'pm@', 'pm@0', 'pm@x', '../x@1', 'PM']) expect(() => parseModelRef(bad), bad).toThrow(/invalid model reference/);
  });
});
