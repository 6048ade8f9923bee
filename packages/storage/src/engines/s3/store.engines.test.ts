import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { DeleteBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '@strata/testkit';
import { describeStoreContract } from '../../contract/suite.js';
import type { ObjectInfo, ObjectStore } from '../../types.js';
import { parseS3Options } from './config.js';
import { openS3Store, s3Client, S3Store } from './store.js';
import { createTestBucket, pendingUploads, serverOptions, type S3Server, type TestBucket } from './test-buckets.js';

const MiB = 1024 * 1024;
const SERVERS: Record<S3Server, string> = { ceph: 'Ceph RGW', moto: 'moto' };

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: ObjectInfo[] = [];
  for await (const info of store.list(prefix)) out.push(info);
  return out.map((i) => i.key);
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// The shared contract, once per server, each on a bucket of its own (no prefix: the contract
// writes keys of exactly 1024 bytes, S3's limit).
for (const server of ['ceph', 'moto'] as const) {
  let bucket: TestBucket;
  beforeAll(async () => {
    bucket = await createTestBucket(server, `contract-${server}`);
  });
  afterAll(() => bucket?.remove());
  describeStoreContract(`s3 (${SERVERS[server]})`, { open: () => openS3Store({ ...serverOptions(server), bucket: bucket.name }) });
}

describe.each(['ceph', 'moto'] as const)('s3 engine on %s', (server) => {
  let bucket: TestBucket;
  const stores: ObjectStore[] = [];
  beforeAll(async () => {
    bucket = await createTestBucket(server, `engine-${server}`);
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(() => bucket?.remove());

  const open = async (extra: Partial<Parameters<typeof openS3Store>[0]> = {}): Promise<ObjectStore> => {
    const s = await openS3Store({ ...serverOptions(server), bucket: bucket.name, ...extra });
    stores.push(s);
    return s;
  };

  it('puts a body above the threshold as a multipart upload that round-trips, leaving no upload behind', async () => {
    const store = await open({ multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB });
    const body = randomBytes(12 * MiB);
    await store.put('multi/big.bin', body, { contentType: 'application/x-test' });
    expect(Buffer.compare((await store.get('multi/big.bin'))!, body)).toBe(0);
    expect((await store.head('multi/big.bin'))?.size).toBe(body.length);
    const raw = await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'multi/big.bin' }));
    expect(raw.ETag).toMatch(/-3"$/); // a multipart ETag: md5 of the part md5s, then the part count
    expect(raw.ContentType).toBe('application/x-test');
    expect(await pendingUploads(bucket.client, bucket.name, 'multi/')).toEqual([]);
    // An overwrite by a single put replaces it whole.
    await store.put('multi/big.bin', Buffer.from('small now'));
    expect((await store.get('multi/big.bin'))?.toString()).toBe('small now');
  });

  it('aborts a multipart upload whose part fails: no parts left, no object, STRATA_ERR_STORAGE_IO', async () => {
    const settings = parseS3Options({ ...serverOptions(server), bucket: bucket.name, multipartThresholdBytes: 5 * MiB, partSizeBytes: 5 * MiB });
    const client = s3Client(settings);
    // Part 2 fails before it is sent (the real server sees parts 1 and 3 and the abort).
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { PartNumber?: number; UploadId?: string };
        if (input.UploadId !== undefined && input.PartNumber === 2) throw new Error('injected part failure');
        return next(args);
      },
      { step: 'initialize', name: 'failPartTwo' },
    );
    const store = new S3Store(settings, client);
    stores.push(store);
    const err = await store.put('multi/fails.bin', randomBytes(12 * MiB)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STRATA_ERR_STORAGE_IO', details: { op: 'put', key: 'multi/fails.bin' } });
    expect(String((err as Error).message)).toContain('injected part failure');
    expect(await pendingUploads(bucket.client, bucket.name, 'multi/fails')).toEqual([]);
    expect(await store.head('multi/fails.bin')).toBeUndefined();
  });

  it('keeps environments apart with a prefix, and bounds keys by S3 limit after it', async () => {
    const a = await open({ prefix: 'env/a' });
    const b = await open({ prefix: 'env/b/' });
    await a.put('x/1', Buffer.from('from a'));
    await b.put('x/1', Buffer.from('from b'));
    expect((await a.get('x/1'))?.toString()).toBe('from a');
    expect((await b.get('x/1'))?.toString()).toBe('from b');
    expect(await keys(a, '')).toEqual(['x/1']);
    expect(await keys(b, 'x/')).toEqual(['x/1']);
    const whole = await open();
    expect(await keys(whole, 'env/')).toEqual(['env/a/x/1', 'env/b/x/1']);
    await a.probe();
    expect(await keys(whole, 'env/')).toEqual(['env/a/x/1', 'env/b/x/1']);
    // 'env/a/' takes 6 of S3's 1024 bytes.
    await expect(a.put(`${'k/'.repeat(508)}kk`, Buffer.from('x'))).resolves.toBeUndefined();
    await expect(a.put(`${'k/'.repeat(509)}k`, Buffer.from('x'))).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_BAD_KEY' });
  });

  it('lists every object across pages of ListObjectsV2, skipping keys outside the key grammar', async () => {
    const store = await open({ prefix: 'pages' });
    const n = server === 'ceph' ? 1005 : 0; // moto is slow at this; the contract covers its single pages
    const names = Array.from({ length: n }, (_, i) => `p/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((k) => store.put(k, Buffer.from(k))));
    for (const foreign of ['pages/p//double', 'pages/p/.tmp-1/x', 'pages/p/trailing/']) {
      await bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: foreign, Body: 'not ours' }));
    }
    await bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'pages/p/ctl\u0001 +%20', Body: 'ours' }));
    expect(await keys(store, 'p/')).toEqual([...names, 'p/ctl\u0001 +%20']);
    expect((await store.get('p/ctl\u0001 +%20'))?.toString()).toBe('ours');
  });

  it('treats a missing bucket as a failure, not as an empty store (head cannot tell: undefined)', async () => {
    const store = await open({ bucket: `${bucket.name}-missing` });
    await expect(store.get('k')).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO', message: expect.stringContaining('NoSuchBucket') });
    await expect(store.put('k', Buffer.from('x'))).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO' });
    await expect(keys(store, '')).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO' });
    await expect(store.probe()).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO' });
    expect(await store.head('k')).toBeUndefined();
  });

  it('creates its bucket on open when asked, and reopens it', async () => {
    const name = `${bucket.name}-made`;
    const first = await open({ bucket: name, createBucket: true });
    await first.put('k', Buffer.from('v'));
    const again = await open({ bucket: name, createBucket: true });
    expect((await again.get('k'))?.toString()).toBe('v');
    await again.delete('k');
    await bucket.client.send(new DeleteBucketCommand({ Bucket: name }));
  });
});

describe('s3 engine, unreachable endpoint', () => {
  it('fails every operation and probe with STRATA_ERR_STORAGE_IO after its attempts, never logging secrets', async () => {
    const logger = memoryLogger();
    const secret = 'DO-NOT-LOG-THIS-SECRET';
    const store = await openS3Store({
      bucket: 'nowhere',
      endpoint: `http://127.0.0.1:${await closedPort()}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret },
      maxAttempts: 3,
      logger,
    });
    try {
      const err = await store.put('a/b', Buffer.from('x')).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'STRATA_ERR_STORAGE_IO', statusCode: 503, details: { op: 'put', key: 'a/b', attempts: 3 } });
      expect((err as Error).message).toMatch(/ECONNREFUSED.*after 3 attempts/);
      await expect(store.get('a/b')).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO', details: { op: 'get' } });
      await expect(store.head('a/b')).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO', details: { op: 'head' } });
      await expect(store.delete('a/b')).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO', details: { op: 'delete' } });
      await expect(keys(store, 'a/')).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO', details: { op: 'list' } });
      await expect(store.probe()).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO' });
      expect(logger.lines.length).toBeGreaterThan(0);
      expect(JSON.stringify(logger.lines)).not.toContain(secret);
      expect(JSON.stringify(logger.lines)).not.toContain('AKIDEXAMPLE');
      expect(`${(err as Error).message} ${JSON.stringify((err as { details: unknown }).details)}`).not.toContain(secret);
    } finally {
      await store.close();
    }
  });

  it('fails to open with STRATA_ERR_STORAGE_IO when asked to create its bucket', async () => {
    const opening = openS3Store({ bucket: 'nowhere', endpoint: `http://127.0.0.1:${await closedPort()}`, forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 2, createBucket: true });
    await expect(opening).rejects.toMatchObject({ code: 'STRATA_ERR_STORAGE_IO', details: { op: 'create-bucket', attempts: 2 } });
  });
});
