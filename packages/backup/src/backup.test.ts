import { cpSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { envelope } from '@strata/core';
import type { Db } from '@strata/db';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { openEmbeddedStream, type Stream } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import { backupErrors, createBackup, listBackups, openTarget, pruneBackups, restoreBackup, verifyBackup, type BackupReport, type BackupTarget } from './index.js';

const master = envelope.newKey();
const work = tempDir('backup');
let source: TestDb;
let lake: ObjectStore;
let stream: Stream;
let target: BackupTarget;
let first: BackupReport;
const disposers: (() => Promise<void>)[] = [];

/** Every table's rows as PostgreSQL prints them (the whole row, not our dump), in a fixed order. */
async function contents(db: Db): Promise<Record<string, string[]>> {
  const { rows } = await sql<{ name: string }>`select relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r' and relname not like 'schema_migrations%' order by 1`.execute(db.kysely);
  const out: Record<string, string[]> = {};
  await db.kysely.transaction().execute(async (tx) => {
    await sql`set local timezone = 'UTC'`.execute(tx);
    for (const { name } of rows) {
      const r = await sql<{ r: string }>`select (t.*)::text as r from ${sql.id(name)} t order by 1`.execute(tx);
      out[name] = r.rows.map((x) => x.r);
    }
  });
  return out;
}

async function lakeContents(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.list('')) out.set(o.key, (await store.get(o.key))!.toString('base64'));
  return out;
}

async function freshDb(): Promise<TestDb> {
  const db = await openTestDatabase();
  disposers.push(() => db.dispose());
  return db;
}

async function freshStore(name: string): Promise<ObjectStore> {
  const store = await openLocalStore({ root: join(work.dir, name) });
  disposers.push(() => store.close());
  return store;
}

/** A copy of the backup target to damage. */
async function copyOfTarget(name: string): Promise<BackupTarget> {
  const dir = join(work.dir, name);
  cpSync(target.location, dir, { recursive: true });
  const t = await openTarget(dir);
  disposers.push(() => t.store.close());
  return t;
}

beforeAll(async () => {
  source = await openTestDatabase();
  const q = (text: TemplateStringsArray) => sql.raw(text.join('')).execute(source.kysely);
  await q`
    insert into devices (id, kind, name, metadata, tags, created, last_seen) values
      ('press-1', 'machine', 'Presse « A »', '{"site": "plant-a", "n": 1.5, "nested": {"x": [1, 2]}}', '{"line": "L1"}', '2025-12-04 10:00:00.123456+00', null),
      ('patient-1', 'patient', null, '{}', '{}', '2025-12-04 10:00:00.000001+00', '2025-12-05 01:02:03.999999+00');
    insert into latest_values values ('press-1', 'temp', '2025-12-04 10:01:00.5+00', 0.1, 'e1'), ('press-1', 'rpm', '2025-12-04 10:01:00+00', 1e-300, 'e2');
    create table rollups_1m_20251204 partition of rollups_1m for values from ('2025-12-04 00:00:00+00') to ('2025-12-05 00:00:00+00');
    insert into rollups_1m values ('press-1', 'temp', '2025-12-04 10:01:00+00', 3, 20.1, 22.3, 63.3, 1336.19);
    insert into api_keys (id, hash, name, scopes, device, expires) values ('k1', '\\x00ff10', 'gateway', '{ingest,"read, all"}', null, '2026-01-01 00:00:00+00');
    insert into audit_log (actor, action, resource, outcome, details) values ('cli:me', 'key.create', 'keys/k1', 'success', '{"a": null}'), ('cli:me', 'key.list', 'keys', 'success', null);
    insert into alert_outbox (event) values ('{"id": "a1"}');
    delete from alert_outbox;
    insert into consumer_offsets values ('state', 'telemetry', 0, 1234), ('rules', 'telemetry', 0, 1200);
    insert into rule_snapshots (consumer, topic, partition, next_offset, state) values ('rules', 'telemetry', 0, 1100, '\\x1f8b');
    insert into data_keys (id, purpose, wrapped, master_id) values ('dk_names_1', 'names', '\\xdeadbeef', 'm1');
    insert into patients (id, name_sealed, key_id, gender, blood_type, birth_year) values ('pat_1', '\\x0102', 'dk_names_1', 'Female', 'O+', 1970), ('pat_2', '\\x', 'dk_names_1', 'Male', 'AB-', 2001);
    insert into admissions values
      ('adm_1', 'pat_1', 55, 'Diabetes', '2024-01-31', '2024-02-10', 'Dr X', 'H1', 'Aetna', 12345.678901234567890123, 101, 'Urgent', 'Aspirin', 'Normal', '{}', 'imp_1'),
      ('adm_2', 'pat_2', 23, 'Asthma', '2023-12-31', '2024-01-01', 'Dr "Y"', 'H2', 'Cigna', -0.5, 202, 'Elective', 'Ibuprofen', 'Abnormal', '{billing_negative,"with space"}', 'imp_1');
  `;
  lake = await openLocalStore({ root: join(work.dir, 'lake') });
  const raw = (n: number) => gzipSync(JSON.stringify({ id: `e${n}`, device: 'press-1', ts: '2025-12-04T10:00:00Z', metrics: { temp: n } }) + '\n');
  await lake.put('raw/telemetry/year=2025/month=12/day=04/hour=10/telemetry-0-0-9.ndjson.gz', raw(1));
  await lake.put('raw/telemetry/year=2025/month=12/day=04/hour=10/telemetry-0-10-19.ndjson.gz', raw(2));
  await lake.put('raw/telemetry/year=2025/month=12/day=04/hour=11/telemetry-1-0-4.ndjson.gz', raw(1)); // same bytes: one blob
  await lake.put('_state/lake/bronze.json', Buffer.from('{"format":1}'));
  await lake.put('_state/delivery/delivery/telemetry-0.json', Buffer.from('{"partition":0,"first":10,"last":19}'));

  stream = await openEmbeddedStream({ dir: join(work.dir, 'stream') });
  await stream.ensureTopic('telemetry', { partitions: 2 });
  await stream.append('telemetry', [{ key: 'a', value: Buffer.from('1') }, { key: 'b', value: Buffer.from('2') }, { key: 'c', value: Buffer.from('3') }]);
  const consumer = await stream.consumer({ topic: 'telemetry', group: 'delivery' });
  const records = await consumer.read({ maxWaitMs: 100 });
  const next = new Map<number, number>();
  for (const r of records) next.set(r.partition, Math.max(next.get(r.partition) ?? 0, r.offset + 1));
  await consumer.commit([...next].map(([partition, offset]) => ({ partition, offset })));
  await consumer.close();

  target = await openTarget(join(work.dir, 'target'));
  first = await createBackup({ db: source, lake, stream: { stream, topics: ['telemetry'] }, masterKey: master, target, partRows: 1 });
});

afterAll(async () => {
  for (const d of disposers.reverse()) await d().catch(() => undefined);
  await target?.store.close();
  await stream?.close();
  await lake?.close();
  await source?.dispose();
  work.remove();
});

describe('createBackup', () => {
  it('copies every table, the lake by content and the stream positions', async () => {
    expect(first.database.tables).toBeGreaterThanOrEqual(20);
    expect(first.database.rows).toBe(17);
    expect(first.lake).toMatchObject({ objects: 5, copied: 4, reused: 1, vanished: 0, passes: 1 });
    const [summary] = await listBackups(target.store);
    expect(summary).toMatchObject({ id: first.id, rows: 17, objects: 5, masterKeyId: envelope.keyId(master) });
    const manifest = JSON.parse(readFileSync(join(target.location, 'backups', first.id, 'manifest.json'), 'utf8'));
    expect(manifest.stream.topics[0].groups).toEqual([{ group: 'delivery', partitions: expect.arrayContaining([expect.objectContaining({ committed: expect.any(Number) })]) }]);
    expect(manifest.database.tables.map((t: { name: string }) => t.name)).toContain('rollups_1m_20251204');
    // Nothing readable in the target: names, keys and hashes stay sealed.
    const part = readFileSync(join(target.location, manifest.database.tables.find((t: { name: string }) => t.name === 'devices').files[0].path));
    expect(part.includes(Buffer.from('press'))).toBe(false);
  });
});

describe('restoreBackup', () => {
  it('reproduces every table and object exactly; stream positions are cleared for the new stream', async () => {
    const db = await freshDb();
    const into = await freshStore('restored-lake');
    const report = await restoreBackup({ from: target, masterKey: master, db, lake: into });
    expect(report).toMatchObject({ id: first.id, streamPositions: 'cleared', database: { rows: 17, checked: true }, lake: { objects: 4, written: 4 } });
    const want = await contents(source);
    const got = await contents(db);
    expect(got.consumer_offsets).toEqual([]);
    expect(got.rule_snapshots).toEqual([]);
    expect({ ...got, consumer_offsets: want.consumer_offsets, rule_snapshots: want.rule_snapshots }).toEqual(want);
    expect(got.admissions!.join('\n')).toContain('12345.678901234567890123');
    const lakeWant = await lakeContents(lake);
    lakeWant.delete('_state/delivery/delivery/telemetry-0.json');
    expect(await lakeContents(into)).toEqual(lakeWant);
    // Sequences: the next identity is the one the source would give.
    const next = async (d: Db) => (await sql<{ id: number }>`insert into audit_log (actor, action, resource, outcome) values ('t', 't', 't', 'success') returning id`.execute(d.kysely)).rows[0]!.id;
    expect(await next(db)).toBe(3);
    // Triggers are back on.
    await expect(sql`delete from audit_log`.execute(db.kysely)).rejects.toThrow(/append-only/);
  });

  it('keeps the stream positions when asked (the stream survived)', async () => {
    const db = await freshDb();
    await restoreBackup({ from: target, masterKey: master, db, lake: await freshStore('kept-lake'), keepStreamPositions: true });
    expect(await contents(db)).toEqual(await contents(source));
  });

  it('refuses a database that holds rows, naming the tables', async () => {
    const err = await restoreBackup({ from: target, masterKey: master, db: source, lake: await freshStore('refused-lake') }).catch((e: unknown) => e);
    expect(backupErrors.STRATA_ERR_BACKUP_NOT_EMPTY.is(err)).toBe(true);
    expect((err as Error).message).toMatch(/admissions/);
  });

  it('refuses a wrong master key with a clear error', async () => {
    const err = await restoreBackup({ from: target, masterKey: envelope.newKey(), db: await freshDb(), lake: await freshStore('wrong-key-lake') }).catch((e: unknown) => e);
    expect(backupErrors.STRATA_ERR_BACKUP_MASTER_KEY.is(err)).toBe(true);
    expect((err as Error).message).toMatch(/sealed by master key [0-9a-f]{16}, this one is [0-9a-f]{16}/);
    await expect(verifyBackup({ from: target, masterKey: envelope.newKey() })).rejects.toThrow(/does not open with this master key/);
  });

  it('stops at a damaged file, naming it, and leaves the database empty', async () => {
    const broken = await copyOfTarget('broken-restore');
    const manifest = JSON.parse(readFileSync(join(broken.location, 'backups', first.id, 'manifest.json'), 'utf8'));
    const file = manifest.database.tables.find((t: { name: string }) => t.name === 'patients').files[1].path as string;
    const path = join(broken.location, file);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(path, bytes);
    const db = await freshDb();
    const err = await restoreBackup({ from: broken, masterKey: master, db, lake: await freshStore('broken-lake') }).catch((e: unknown) => e);
    expect(backupErrors.STRATA_ERR_BACKUP_CORRUPT.is(err)).toBe(true);
    expect((err as Error).message).toContain(file);
    expect((await contents(db)).devices).toEqual([]);
  });
});

describe('verifyBackup', () => {
  it('passes on a good backup, after restoring it into a scratch database', async () => {
    const report = await verifyBackup({ from: target, masterKey: master, scratchDb: freshDb });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, database: { rows: 17, restored: true }, lake: { objects: 5 } });
  });

  it('names each flipped, truncated or deleted file', async () => {
    const broken = await copyOfTarget('broken-verify');
    const manifest = JSON.parse(readFileSync(join(broken.location, 'backups', first.id, 'manifest.json'), 'utf8'));
    const flipped = manifest.database.tables.find((t: { name: string }) => t.name === 'admissions').files[0].path as string;
    const blobs = [...new Set(manifest.lake.objects.map((o: { blob: string }) => o.blob))] as string[];
    const [truncated, deleted] = blobs;
    const bytes = readFileSync(join(broken.location, flipped));
    bytes[40]! ^= 0x80;
    writeFileSync(join(broken.location, flipped), bytes);
    truncateSync(join(broken.location, truncated!), 10);
    rmSync(join(broken.location, deleted!));
    const report = await verifyBackup({ from: broken, masterKey: master, scratchDb: freshDb });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        { file: flipped, problem: 'checksum mismatch (altered)' },
        { file: truncated, problem: expect.stringMatching(/^truncated: 10 bytes/) },
        { file: deleted, problem: 'missing' },
      ]),
    );
    expect(report.problems).toHaveLength(3);
  });

  it('names an altered manifest', async () => {
    const broken = await copyOfTarget('broken-manifest');
    const path = join(broken.location, 'backups', first.id, 'manifest.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"rows": 2', '"rows": 3'));
    const report = await verifyBackup({ from: broken, masterKey: master, scratchDb: freshDb });
    expect(report).toMatchObject({ ok: false, problems: [{ file: `backups/${first.id}/manifest.json`, problem: expect.stringMatching(/MAC/) }] });
  });
});

describe('incremental backups and pruning', () => {
  it('copies only new objects, and prune keeps N and every blob still referenced', async () => {
    const newObject = 'raw/telemetry/year=2025/month=12/day=04/hour=12/telemetry-0-20-29.ndjson.gz';
    await lake.put(newObject, gzipSync('{"id":"e9"}\n'));
    const second = await createBackup({ db: source, lake, masterKey: master, target });
    expect(second.lake).toMatchObject({ objects: 6, copied: 1, reused: 5 });
    await lake.delete(newObject);
    await lake.delete('_state/lake/bronze.json');
    const third = await createBackup({ db: source, lake, masterKey: master, target });
    expect(third.lake).toMatchObject({ objects: 4, copied: 0 });
    expect((await listBackups(target.store)).map((b) => b.id)).toEqual([first.id, second.id, third.id]);

    const pruned = await pruneBackups(target.store, 2);
    expect(pruned).toMatchObject({ kept: [second.id, third.id], deleted: [first.id], blobsDeleted: 0 });
    expect(await verifyBackup({ from: target, masterKey: master, scratchDb: freshDb })).toMatchObject({ id: third.id, ok: true });
    const last = await pruneBackups(target.store, 1);
    expect(last).toMatchObject({ kept: [third.id], deleted: [second.id], blobsDeleted: 2 }); // the new object's and bronze.json's
    expect(await verifyBackup({ from: target, masterKey: master, scratchDb: freshDb })).toMatchObject({ id: third.id, ok: true });
    const db = await freshDb();
    const into = await freshStore('after-prune-lake');
    await restoreBackup({ from: target, masterKey: master, db, lake: into });
    expect([...(await lakeContents(into)).keys()].sort()).toEqual([...(await lakeContents(lake)).keys()].filter((k) => !k.startsWith('_state/delivery/')).sort());
  });
});
