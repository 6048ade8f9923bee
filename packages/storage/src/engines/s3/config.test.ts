import { describe, expect, it } from 'vitest';
import { parseS3Options, S3_STORE_DEFAULTS, type S3StoreOptions } from './config.js';
import { openS3Store } from './store.js';

const BAD = { code: 'STRATA_ERR_STORAGE_BAD_OPTIONS' };

describe('s3 store options', () => {
  it('applies the documented defaults', () => {
    expect(parseS3Options({ bucket: 'lake' })).toEqual({
      ...S3_STORE_DEFAULTS,
      bucket: 'lake',
      endpoint: undefined,
      credentials: undefined,
    });
    expect(Object.isFrozen(parseS3Options({ bucket: 'lake' }))).toBe(true);
  });

  it('normalises the prefix to end with one "/"', () => {
    expect(parseS3Options({ bucket: 'lake', prefix: 'env/prod' }).prefix).toBe('env/prod/');
    expect(parseS3Options({ bucket: 'lake', prefix: 'env/prod/' }).prefix).toBe('env/prod/');
    expect(parseS3Options({ bucket: 'lake', prefix: '' }).prefix).toBe('');
  });

  it.each<[string, Partial<S3StoreOptions>]>([
    ['no bucket', { bucket: undefined as unknown as string }],
    ['a bucket with a slash', { bucket: 'a/b' }],
    ['a bucket too short', { bucket: 'ab' }],
    ['a prefix outside the key grammar', { prefix: '/abs' }],
    ['a prefix with ..', { prefix: 'a/../b' }],
    ['a prefix leaving keys too little room', { prefix: 'p'.repeat(200) + '/' + 'q'.repeat(200) + '/' + 'r'.repeat(200) }],
    ['an empty region', { region: '' }],
    ['an endpoint that is not a URL', { endpoint: 'localhost:9000' }],
    ['an endpoint of another scheme', { endpoint: 'ftp://127.0.0.1' }],
    ['an endpoint with credentials in it', { endpoint: 'http://key:secret@127.0.0.1:7480' }],
    ['credentials without a secret', { credentials: { accessKeyId: 'a', secretAccessKey: '' } }],
    ['a threshold under S3 minimum part size', { multipartThresholdBytes: 1024 }],
    ['a part size under 5 MiB', { partSizeBytes: 5 * 1024 * 1024 - 1 }],
    ['a fractional part size', { partSizeBytes: 6 * 1024 * 1024 + 0.5 }],
    ['zero attempts', { maxAttempts: 0 }],
    ['zero part concurrency', { partConcurrency: 0 }],
    ['a non-boolean createBucket', { createBucket: 'yes' as unknown as boolean }],
  ])('refuses %s with STRATA_ERR_STORAGE_BAD_OPTIONS', async (_what, extra) => {
    expect(() => parseS3Options({ bucket: 'lake', ...extra })).toThrow(expect.objectContaining(BAD));
    await expect(openS3Store({ bucket: 'lake', ...extra })).rejects.toMatchObject(BAD);
  });

  it('never echoes a secret in its errors', () => {
    const secret = 'VERY-SECRET-VALUE';
    for (const opts of [
      { bucket: 'lake', endpoint: `http://key:${secret}@127.0.0.1` },
      { bucket: 'lake', credentials: { accessKeyId: '', secretAccessKey: secret } },
    ]) {
      try {
        parseS3Options(opts);
        expect.unreachable();
      } catch (err) {
        expect(`${(err as Error).message} ${JSON.stringify(err)}`).not.toContain(secret);
      }
    }
  });

  it('opens without a request (a server boots while S3 is down) and names its engine', async () => {
    const store = await openS3Store({ bucket: 'lake', endpoint: 'http://127.0.0.1:9', forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    expect(store.engine).toBe('s3');
    expect(store.localPath).toBeUndefined();
    await expect(store.get('../x')).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_BAD_KEY' });
    await store.close();
    await expect(store.get('x')).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_CLOSED' });
  });
});
