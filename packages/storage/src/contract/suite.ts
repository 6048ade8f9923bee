/**
 * The object store contract: every engine runs this suite (local here; S3 against Ceph RGW and
 * moto in the engines project). It only uses the `ObjectStore` interface and writes under a
 * fresh `contract-<uuid>/` prefix per test, so it can share a bucket with other runs; what it
 * wrote is deleted afterwards.
 *
 *   describeStoreContract('local', { open: () => openLocalStore({ root }) });
 *
 * `open()` must return a store over the same data every time it is called within one test
 * (the reopen test closes one and opens another).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareKeys } from '../key.js';
import type { ObjectInfo, ObjectStore } from '../types.js';

export interface StoreFactory {
  open(): Promise<ObjectStore>;
}

const BAD_KEY = 'STRATA_ERR_STORAGE_BAD_KEY';

/** Keys the grammar refuses (see README, "Key grammar"). */
export const INVALID_KEYS: readonly string[] = [
  '',
  '/abs',
  'trailing/',
  'double//slash',
  '.',
  '..',
  'a/./b',
  'a/../b',
  '../escape',
  'back\\slash',
  'nul\0byte',
  '.tmp-reserved',
  'a/.tmp-x/b',
  'lone\uD800surrogate',
  'x'.repeat(256),
  `${'a/'.repeat(512)}b`,
];

async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of iterable) out.push(info);
  return out;
}

function bytes(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

export function describeStoreContract(engine: string, factory: StoreFactory): void {
  describe(`object store contract: ${engine}`, () => {
    let opened: ObjectStore[] = [];
    let store: ObjectStore;
    /** Fresh per test: every key a test writes starts with it. */
    let ns: string;

    const open = async (): Promise<ObjectStore> => {
      const s = await factory.open();
      opened.push(s);
      return s;
    };

    beforeEach(async () => {
      opened = [];
      ns = `contract-${randomUUID()}/`;
      store = await open();
    });

    afterEach(async () => {
      const cleaner = await factory.open();
      try {
        for (const info of await collect(cleaner.list(ns))) await cleaner.delete(info.key);
      } finally {
        await cleaner.close();
        for (const s of opened) await s.close();
      }
    });

    it('names its engine', () => {
      expect(typeof store.engine).toBe('string');
      expect(store.engine.length).toBeGreaterThan(0);
    });

    it('puts, gets and heads an object; a missing key is undefined, not an error', async () => {
      const key = `${ns}hello.txt`;
      await store.put(key, bytes('hello, world'), { contentType: 'text/plain' });
      expect((await store.get(key))?.toString('utf8')).toBe('hello, world');
      const info = await store.head(key);
      expect(info).toMatchObject({ key, size: 12 });
      expect(info?.modified).toBeInstanceOf(Date);
      expect(Number.isNaN(info?.modified.getTime())).toBe(false);
      expect(await store.get(`${ns}missing`)).toBeUndefined();
      expect(await store.head(`${ns}missing`)).toBeUndefined();
    });

    it('overwrites an object with a new body (smaller and larger)', async () => {
      const key = `${ns}over/write.bin`;
      await store.put(key, bytes('first version, rather long'));
      await store.put(key, bytes('short'));
      expect((await store.get(key))?.toString('utf8')).toBe('short');
      expect((await store.head(key))?.size).toBe(5);
      await store.put(key, bytes('a third, longer than the second'));
      expect((await store.get(key))?.toString('utf8')).toBe('a third, longer than the second');
      expect(await collect(store.list(`${ns}over/`))).toHaveLength(1);
    });

    it('round-trips binary bodies byte for byte, empty ones included', async () => {
      const sizes = [0, 1, 255, 4096, 65_537, 1_048_576 + 3];
      const bodies = sizes.map((n) => randomBytes(n));
      await Promise.all(bodies.map((body, i) => store.put(`${ns}bin/${i}`, body)));
      for (const [i, body] of bodies.entries()) {
        const back = await store.get(`${ns}bin/${i}`);
        expect(back).toBeDefined();
        expect(Buffer.compare(back!, body)).toBe(0);
        expect((await store.head(`${ns}bin/${i}`))?.size).toBe(body.length);
      }
    });

    it('lists by prefix, nested keys included, in UTF-8 byte order', async () => {
      // Byte order differs from JavaScript's default (UTF-16) sort for U+FFFD vs an astral
      // character, and puts "-" and "." before "/" before "0".
      const keys = [
        'a/bb',
        'a/b/c',
        'a-b',
        'a.b',
        'a0',
        'A',
        'b/deep/er/and/deeper',
        'é',
        '\uFFFD',
        '😀',
        'z y',
      ].map((k) => `${ns}${k}`);
      for (const key of [...keys].reverse()) await store.put(key, bytes(key));
      const listed = await collect(store.list(ns));
      const expected = [...keys].sort(compareKeys);
      expect(listed.map((i) => i.key)).toEqual(expected);
      expect(listed.every((i) => i.size === Buffer.byteLength(i.key, 'utf8'))).toBe(true);
      expect(expected.indexOf(`${ns}\uFFFD`)).toBeLessThan(expected.indexOf(`${ns}😀`));

      expect((await collect(store.list(`${ns}a/`))).map((i) => i.key)).toEqual([`${ns}a/b/c`, `${ns}a/bb`]);
      // A prefix need not end at a "/": it is a plain string prefix of keys.
      expect((await collect(store.list(`${ns}a`))).map((i) => i.key)).toEqual(
        [`${ns}a-b`, `${ns}a.b`, `${ns}a/b/c`, `${ns}a/bb`, `${ns}a0`],
      );
      expect((await collect(store.list(`${ns}b/deep/er/`))).map((i) => i.key)).toEqual([`${ns}b/deep/er/and/deeper`]);
      expect(await collect(store.list(`${ns}nothing-here/`))).toEqual([]);
      expect(await collect(store.list(`${ns}a/b/c/d`))).toEqual([]);
    });

    it('lists everything for the empty prefix, in key order', async () => {
      const keys = [`${ns}x/1`, `${ns}x/2`, `${ns}y`];
      for (const key of keys) await store.put(key, bytes('.'));
      const all = (await collect(store.list(''))).map((i) => i.key);
      expect(all.filter((k) => k.startsWith(ns))).toEqual(keys);
      expect([...all].sort(compareKeys)).toEqual(all);
    });

    it('deletes idempotently', async () => {
      const key = `${ns}del/me`;
      await store.put(key, bytes('x'));
      await store.delete(key);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.head(key)).toBeUndefined();
      expect(await collect(store.list(`${ns}del/`))).toEqual([]);
      await store.delete(key);
      await store.delete(`${ns}never/existed`);
      await store.put(key, bytes('back again'));
      expect((await store.get(key))?.toString()).toBe('back again');
    });

    it('rejects invalid keys with STRATA_ERR_STORAGE_BAD_KEY on every operation', async () => {
      for (const bad of INVALID_KEYS) {
        await expect(store.put(bad, bytes('x')), JSON.stringify(bad)).rejects.toMatchObject({ code: BAD_KEY });
        await expect(store.get(bad)).rejects.toMatchObject({ code: BAD_KEY });
        await expect(store.head(bad)).rejects.toMatchObject({ code: BAD_KEY });
        await expect(store.delete(bad)).rejects.toMatchObject({ code: BAD_KEY });
        await expect(store.putIf(bad, bytes('x'), null)).rejects.toMatchObject({ code: BAD_KEY });
        await expect(store.getVersioned(bad)).rejects.toMatchObject({ code: BAD_KEY });
      }
      await expect(collect(store.list('/abs'))).rejects.toMatchObject({ code: BAD_KEY });
      await expect(collect(store.list('a/../'))).rejects.toMatchObject({ code: BAD_KEY });
      await expect(collect(store.list('back\\slash'))).rejects.toMatchObject({ code: BAD_KEY });
    });

    it('accepts unusual but valid keys', async () => {
      const keys = [
        `${ns}with space/and=equals,comma;semi`,
        `${ns}.hidden/...`,
        `${ns}not.tmp-reserved/x.tmp-y`,
        `${ns}日本語/ключ/😀`,
        `${ns}${'s'.repeat(255)}`,
      ];
      const deep = `${ns}${'d/'.repeat(400)}`;
      keys.push(deep + 'e'.repeat(1024 - Buffer.byteLength(deep))); // exactly the 1024-byte limit
      for (const key of keys) {
        await store.put(key, bytes(key));
        expect((await store.get(key))?.toString('utf8')).toBe(key);
      }
      expect((await collect(store.list(ns))).map((i) => i.key)).toEqual([...keys].sort(compareKeys));
    });

    it('takes parallel puts of distinct keys', async () => {
      const n = 64;
      const bodies = Array.from({ length: n }, () => randomBytes(2048));
      await Promise.all(bodies.map((body, i) => store.put(`${ns}par/${String(i).padStart(3, '0')}`, body)));
      const listed = await collect(store.list(`${ns}par/`));
      expect(listed).toHaveLength(n);
      for (const [i, body] of bodies.entries()) {
        expect(Buffer.compare((await store.get(`${ns}par/${String(i).padStart(3, '0')}`))!, body)).toBe(0);
      }
    });

    it('makes puts atomic: concurrent overwrites of one key leave exactly one whole body', async () => {
      const key = `${ns}race`;
      const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024 + i * 1000, i + 1));
      const seen: (Buffer | undefined)[] = [];
      let writing = true;
      const reader = (async () => {
        while (writing) seen.push(await store.get(key));
      })();
      await Promise.all(bodies.map((body) => store.put(key, body)));
      writing = false;
      await reader;
      const isOneOf = (b: Buffer | undefined): boolean => b !== undefined && bodies.some((body) => Buffer.compare(b, body) === 0);
      for (const b of seen) if (b !== undefined) expect(isOneOf(b)).toBe(true);
      expect(isOneOf(await store.get(key))).toBe(true);
      const listed = await collect(store.list(ns));
      expect(listed.map((i) => i.key)).toEqual([key]);
    });

    it('compares and sets: putIf writes only over the version it expects', async () => {
      const key = `${ns}cas/plan.json`;
      const CHANGED = { code: 'STRATA_ERR_STORAGE_CHANGED' };
      expect(await store.getVersioned(key)).toBeUndefined();
      const v1 = await store.putIf(key, bytes('one'), null, { contentType: 'application/json' });
      const read = await store.getVersioned(key);
      expect(read?.body.toString()).toBe('one');
      expect(read?.version).toBe(v1);
      await expect(store.putIf(key, bytes('again'), null)).rejects.toMatchObject(CHANGED); // it exists now

      const v2 = await store.putIf(key, bytes('two'), v1);
      expect(v2).not.toBe(v1);
      await expect(store.putIf(key, bytes('stale'), v1)).rejects.toMatchObject(CHANGED);
      expect((await store.get(key))?.toString()).toBe('two');

      // A plain put is a change too: the version read before it no longer matches.
      await store.put(key, bytes('three'));
      await expect(store.putIf(key, bytes('late'), v2)).rejects.toMatchObject(CHANGED);
      const now = await store.getVersioned(key);
      expect(now?.body.toString()).toBe('three');
      expect(await store.putIf(key, bytes('four'), now!.version)).toBe((await store.getVersioned(key))?.version);
    });

    it('lets exactly one of concurrent putIf calls on the same version win', async () => {
      const key = `${ns}cas/race`;
      const v0 = await store.putIf(key, bytes('start'), null);
      const other = await open(); // a second client of the same data
      const attempts = Array.from({ length: 8 }, (_, i) => (i % 2 ? other : store).putIf(key, bytes(`writer-${i}`), v0));
      const results = await Promise.allSettled(attempts);
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'STRATA_ERR_STORAGE_CHANGED' });
      expect((await store.get(key))?.toString()).toBe(`writer-${won[0]}`);
      const creates = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => store.putIf(`${ns}cas/new`, bytes(`c-${i}`), null)));
      expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });

    it('keeps data across close and reopen', async () => {
      const key = `${ns}durable/object`;
      const body = randomBytes(10_000);
      await store.put(key, body);
      await store.close();
      const again = await open();
      expect(Buffer.compare((await again.get(key))!, body)).toBe(0);
      expect((await collect(again.list(`${ns}durable/`))).map((i) => i.key)).toEqual([key]);
    });

    it('refuses operations after close with STRATA_ERR_STORAGE_CLOSED', async () => {
      await store.close();
      await expect(store.put(`${ns}late`, bytes('x'))).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_CLOSED' });
      await expect(store.get(`${ns}late`)).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_CLOSED' });
    });

    it('probes writability without leaving objects behind', async () => {
      const before = (await collect(store.list('_probe/'))).length;
      await store.probe();
      await store.probe();
      expect((await collect(store.list('_probe/'))).length).toBeLessThanOrEqual(before);
    });
  });
}
