/**
 * Lake objects in a backup target: content-addressed blobs (`objects/<objectsKeyId>/<sha>`),
 * sealed with the target's objects key, shared by every backup that holds the same bytes. A
 * daily backup therefore copies only objects that are new or changed since the last one.
 */
import { envelope } from '@strata/core';
import { storageErrors, type ObjectStore } from '@strata/storage';
import { objectsKeyAad } from './crypto.js';
import { objectsKeyKey } from './layout.js';

/** The target's objects key for this master key: read, or made once (compare-and-set, so concurrent backups agree). */
export async function objectsKey(store: ObjectStore, masterKey: Buffer): Promise<{ id: string; key: Buffer; sealed: Buffer }> {
  const masterId = envelope.keyId(masterKey);
  const path = objectsKeyKey(masterId);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await store.get(path);
    if (existing) {
      const key = envelope.open(masterKey, existing, objectsKeyAad(masterId));
      return { id: envelope.keyId(key), key, sealed: existing };
    }
    const key = envelope.newKey();
    const sealed = envelope.seal(masterKey, key, objectsKeyAad(masterId));
    try {
      await store.putIf(path, sealed, null);
      return { id: envelope.keyId(key), key, sealed };
    } catch (err) {
      if (!storageErrors.STRATA_ERR_STORAGE_CHANGED.is(err)) throw err;
    }
  }
  throw new Error(`could not read or create ${path}`);
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure rejects after the rest settle. */
export async function eachLimited<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failure: unknown;
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done && failure === undefined; next = iterator.next()) {
      try {
        await fn(next.value);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  if (failure !== undefined) throw failure;
}
