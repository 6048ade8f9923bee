import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/testkit';
import { describeStoreContract } from '../../contract/suite.js';
import type { ObjectInfo, ObjectStore } from '../../types.js';
import { keyPath, lockPath, openLocalStore } from './store.js';

const shared = tempDir('storage-contract');
afterAll(() => shared.remove());
describeStoreContract('local', { open: () => openLocalStore({ root: shared.dir }) });

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: ObjectInfo[] = [];
  for await (const info of store.list(prefix)) out.push(info);
  return out.map((i) => i.key);
}

describe('local object store', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ObjectStore;
  afterEach(async () => {
    await store?.close();
    tmp?.remove();
  });

  it('stores each object as a plain file named by its key, with no temp files left', async () => {
    tmp = tempDir('local-store');
    store = await openLocalStore({ root: tmp.dir });
    await store.put('raw/t/year=2025/x.ndjson.gz', Buffer.from('abc'));
    expect(readdirSync(join(tmp.dir, 'raw/t/year=2025'))).toEqual(['x.ndjson.gz']);
    expect(store.engine).toBe('local');
  });

  it('never lists temporary files and removes stale ones on open, keeping fresh ones', async () => {
    tmp = tempDir('local-store');
    mkdirSync(join(tmp.dir, 'a/b'), { recursive: true });
    writeFileSync(join(tmp.dir, 'a/b/obj'), 'kept');
    const stale = join(tmp.dir, 'a/b/.tmp-123-dead');
    const fresh = join(tmp.dir, 'a/.tmp-456-live');
    writeFileSync(stale, 'half a body');
    writeFileSync(fresh, 'being written by someone');
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(stale, old, old);

    store = await openLocalStore({ root: tmp.dir });
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(await keys(store, '')).toEqual(['a/b/obj']);
    expect(await keys(store, 'a/.tmp')).toEqual([]);
  });

  it('refuses a key that is the directory of other objects, and the reverse, with KEY_CONFLICT', async () => {
    tmp = tempDir('local-store');
    store = await openLocalStore({ root: tmp.dir });
    await store.put('a/b', Buffer.from('1'));
    await expect(store.put('a', Buffer.from('2'))).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_KEY_CONFLICT' });
    await expect(store.put('a/b/c', Buffer.from('3'))).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_KEY_CONFLICT' });
    expect(await store.get('a')).toBeUndefined();
    expect(await store.head('a')).toBeUndefined();
    await store.delete('a'); // a directory is not an object: nothing to delete
    expect(await keys(store, '')).toEqual(['a/b']);
  });

  it('prunes directories emptied by delete, so a former prefix can become an object', async () => {
    tmp = tempDir('local-store');
    store = await openLocalStore({ root: tmp.dir });
    await store.put('p/q/r/s', Buffer.from('1'));
    await store.delete('p/q/r/s');
    expect(readdirSync(tmp.dir)).toEqual([]);
    await store.put('p', Buffer.from('now an object'));
    expect((await store.get('p'))?.toString()).toBe('now an object');
  });

  it('keeps puts and deletes of one directory consistent when they race', async () => {
    tmp = tempDir('local-store');
    store = await openLocalStore({ root: tmp.dir });
    for (let round = 0; round < 20; round++) {
      await store.put('race/dir/a', Buffer.from('a'));
      await Promise.all([store.delete('race/dir/a'), store.put('race/dir/b', Buffer.from('b'))]);
      expect(await keys(store, 'race/')).toEqual(['race/dir/b']);
      await store.delete('race/dir/b');
    }
  });

  it('rejects a root that is a file', async () => {
    tmp = tempDir('local-store');
    writeFileSync(join(tmp.dir, 'file'), 'x');
    store = await openLocalStore({ root: tmp.dir });
    await expect(openLocalStore({ root: join(tmp.dir, 'file') })).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO' });
    await expect(openLocalStore({ root: '' })).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_BAD_OPTIONS' });
  });

  it('putIf takes over a lock left by a dead process and waits while a live one holds it', async () => {
    tmp = tempDir('local-store');
    store = await openLocalStore({ root: tmp.dir });
    const key = 'state/plan.json';
    const lock = lockPath(keyPath(tmp.dir, key));
    mkdirSync(join(tmp.dir, 'state'));
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(lock, `${dead} 0123456789abcdef`);
    const v1 = await store.putIf(key, Buffer.from('1'), null);
    expect(existsSync(lock)).toBe(false);

    const holder = spawn('sleep', ['60']);
    try {
      writeFileSync(lock, `${holder.pid} 0123456789abcdef`);
      let settled = false;
      const waiting = store.putIf(key, Buffer.from('2'), v1).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      expect((await store.get(key))?.toString()).toBe('1');
      rmSync(lock);
      await waiting;
      expect((await store.get(key))?.toString()).toBe('2');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('lets exactly one of several processes win a putIf race on one version', async () => {
    tmp = tempDir('local-store');
    store = await openLocalStore({ root: tmp.dir });
    const v0 = await store.putIf('plan', Buffer.from('start'), null);
    const script = `
      const { openLocalStore } = await import(${JSON.stringify(new URL('./store.ts', import.meta.url).href)});
      const store = await openLocalStore({ root: process.argv[1] });
      await store.putIf('plan', Buffer.from('writer-' + process.argv[3]), process.argv[2]).then(() => console.log('won'), (e) => console.log(e.code));
      await store.close();`;
    const outputs = await Promise.all(
      Array.from({ length: 4 }, (_, i) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, tmp.dir, v0, String(i)]);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        return new Promise<string>((resolve) => child.on('exit', () => resolve(out.trim())));
      }),
    );
    expect(outputs.filter((o) => o === 'won')).toHaveLength(1);
    expect(outputs.filter((o) => o === 'STRATA_ERR_STORAGE_CHANGED')).toHaveLength(3);
    expect((await store.get('plan'))?.toString()).toBe(`writer-${outputs.indexOf('won')}`);
    expect(readdirSync(tmp.dir)).toEqual(['plan']); // no lock left behind
  });

  it('close waits for puts in flight', async () => {
    tmp = tempDir('local-store');
    store = await openLocalStore({ root: tmp.dir });
    const puts = Array.from({ length: 10 }, (_, i) => store.put(`f/${i}`, Buffer.alloc(100_000, i)));
    await store.close();
    await Promise.all(puts);
    const again = await openLocalStore({ root: tmp.dir });
    expect(await keys(again, 'f/')).toHaveLength(10);
    await again.close();
  });
});
