/**
 * S3 object store (AWS SDK v3): AWS S3, Ceph RGW, moto, MinIO and other S3-compatible servers.
 *
 * Key format
 * - A store key `k` is the S3 key `<prefix>k` in `bucket` (`prefix` is '' or ends with `/`), so
 *   environments can share a bucket. Keys follow the store's grammar (`validateKey`); with a
 *   prefix they must also fit S3's 1024-byte key limit together with it.
 *
 * Invariants
 * - A put is atomic: bodies up to `multipartThresholdBytes` go up in one PutObject, larger ones
 *   as a multipart upload that only becomes visible at CompleteMultipartUpload. Either way a
 *   reader sees the old object or the whole new one, and concurrent puts leave one whole body.
 * - A failed multipart upload is aborted once its parts in flight have settled, so it leaves no
 *   stored parts behind (unless the abort itself fails: then it is logged as a warning).
 * - A missing key is undefined for get/head (404), never an error. HEAD responses carry no error
 *   code, so a head on a missing bucket is undefined too; put, get and list report NoSuchBucket.
 * - `list` pages through ListObjectsV2 (url-encoded keys, decoded here) and yields S3's order,
 *   which is UTF-8 byte order, the store's key order. Objects whose key is outside the grammar
 *   (written by other tools) are skipped: every listed key is usable with get/delete.
 * - Every other failure, after the SDK's retries (standard mode: exponential backoff with jitter,
 *   `maxAttempts` attempts), is STRATA_ERR_STORAGE_IO with op, key and a bounded reason.
 *
 * Recovery
 * - A crash in the middle of a multipart upload leaves an incomplete upload: never listed or
 *   read, but its parts are billed until aborted. Give the bucket a lifecycle rule
 *   `AbortIncompleteMultipartUpload` (e.g. after 1 day); see the package README.
 */
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type BucketLocationConstraint,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { silentLogger, StrataError, type Logger } from '@strata/core';
import { storageErrors } from '../../errors.js';
import { Inflight } from '../../inflight.js';
import { keyProblem, MAX_KEY_BYTES, validateKey, validatePrefix } from '../../key.js';
import type { ObjectInfo, ObjectStore, PutOptions, VersionedObject } from '../../types.js';
import { parseS3Options, S3_MAX_PARTS, type S3StoreOptions, type S3StoreSettings } from './config.js';

export type { S3Credentials, S3StoreOptions } from './config.js';

/** Where `probe` writes (and at once deletes) its object, under the store's prefix. */
export const PROBE_PREFIX = '_probe/';
const MAX_REASON = 300;

/** What the SDK's errors carry that we look at. */
interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

function sdkError(err: unknown): SdkError {
  return typeof err === 'object' && err !== null ? (err as SdkError) : {};
}

function status(err: unknown): number | undefined {
  return sdkError(err).$metadata?.httpStatusCode;
}

/** A 404 about the key (not the bucket). HEAD's 404 has no body, hence no code: always "missing". */
function isMissingKey(err: unknown, op: 'get' | 'head'): boolean {
  const { name } = sdkError(err);
  if (op === 'head') return status(err) === 404 && name !== 'NoSuchBucket';
  return name === 'NoSuchKey' || (name === 'NotFound' && status(err) === 404);
}

/**
 * A conditional write refused: 412 PreconditionFailed, or AWS's 409 ConditionalRequestConflict
 * (another conditional write to the key in flight).
 */
function isConditionFailed(err: unknown): boolean {
  const { name } = sdkError(err);
  return status(err) === 412 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict';
}

/** ETags come quoted; versions are kept bare (Ceph RGW 16 only matches a bare ETag in If-Match). */
const bareEtag = (etag: string | undefined): string => (etag ?? '').replace(/^(W\/)?"|"$/g, '');

/** A bounded, credential-free account of an SDK or network failure. */
function explain(err: unknown): string {
  const e = sdkError(err);
  const parts: string[] = [];
  const what = e.code ?? e.name ?? 'Error';
  const message = e.message && e.message !== 'UnknownError' && e.message !== what ? `: ${e.message}` : '';
  parts.push(`${what}${message}`);
  const http = status(err);
  if (http !== undefined) parts.push(`(HTTP ${http})`);
  const attempts = e.$metadata?.attempts;
  if (attempts !== undefined) parts.push(`after ${attempts} attempt${attempts === 1 ? '' : 's'}`);
  const text = parts.join(' ');
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text;
}

/** S3 lists keys url-encoded on request (so control characters survive XML); `+` would be a space. */
function decodeListedKey(raw: string, encoded: boolean): string {
  return encoded ? decodeURIComponent(raw.replace(/\+/g, '%20')) : raw;
}

/** The SDK client for the settings: timeouts, keep-alive sockets, standard retries. */
export function s3Client(s: S3StoreSettings): S3Client {
  const agent = { keepAlive: true, maxSockets: 64 };
  return new S3Client({
    region: s.region,
    ...(s.endpoint !== undefined && { endpoint: s.endpoint }),
    forcePathStyle: s.forcePathStyle,
    ...(s.credentials !== undefined && { credentials: s.credentials }),
    maxAttempts: s.maxAttempts,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: s.connectTimeoutMs, socketTimeout: s.idleTimeoutMs, httpAgent: agent, httpsAgent: agent },
  });
}

export class S3Store implements ObjectStore {
  readonly engine = 's3';
  private closing: Promise<void> | undefined;
  private readonly inflight = new Inflight();
  /** Longest store key that fits S3's key limit after the prefix. */
  private readonly maxKeyBytes: number;

  constructor(
    private readonly s: Readonly<S3StoreSettings>,
    private readonly client: S3Client,
    private readonly logger: Logger = silentLogger,
  ) {
    this.maxKeyBytes = MAX_KEY_BYTES - Buffer.byteLength(s.prefix);
  }

  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<void> {
    return this.track('put', key, async () => {
      const Key = this.s3Key(key);
      const ContentType = opts?.contentType ?? 'application/octet-stream';
      if (body.byteLength <= this.s.multipartThresholdBytes) {
        await this.client.send(new PutObjectCommand({ Bucket: this.s.bucket, Key, Body: body, ContentLength: body.byteLength, ContentType }));
      } else {
        await this.putMultipart(key, Key, body, ContentType);
      }
    });
  }

  /**
   * One PutObject with If-None-Match: * (create) or If-Match (replace). Ceph RGW 16 stores an
   * If-Match put on a missing key: there, a deleted coordination object is no fence.
   */
  putIf(key: string, body: Uint8Array, expected: string | null, opts?: PutOptions): Promise<string> {
    return this.track('put', key, async () => {
      const condition = expected === null ? { IfNoneMatch: '*' } : { IfMatch: expected };
      try {
        const res = await this.client.send(
          new PutObjectCommand({ Bucket: this.s.bucket, Key: this.s3Key(key), Body: body, ContentLength: body.byteLength, ContentType: opts?.contentType ?? 'application/octet-stream', ...condition }),
        );
        return bareEtag(res.ETag);
      } catch (err) {
        if (isConditionFailed(err)) throw storageErrors.STRATA_ERR_STORAGE_CHANGED({ key });
        throw err;
      }
    });
  }

  async get(key: string): Promise<Buffer | undefined> {
    return (await this.getVersioned(key))?.body;
  }

  getVersioned(key: string): Promise<VersionedObject | undefined> {
    return this.track('get', key, async () => {
      const Key = this.s3Key(key);
      let res;
      try {
        res = await this.client.send(new GetObjectCommand({ Bucket: this.s.bucket, Key }));
      } catch (err) {
        if (isMissingKey(err, 'get')) return undefined;
        throw err;
      }
      const bytes = res.Body ? await res.Body.transformToByteArray() : new Uint8Array(0);
      if (res.ContentLength !== undefined && bytes.byteLength !== res.ContentLength) {
        throw new Error(`body cut short: ${bytes.byteLength} of ${res.ContentLength} bytes`);
      }
      return { body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), version: bareEtag(res.ETag) };
    });
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.track('head', key, async () => {
      const Key = this.s3Key(key);
      try {
        const res = await this.client.send(new HeadObjectCommand({ Bucket: this.s.bucket, Key }));
        return { key, size: res.ContentLength ?? 0, modified: res.LastModified ?? new Date(0) };
      } catch (err) {
        if (isMissingKey(err, 'head')) return undefined;
        throw err;
      }
    });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.inflight.ensureOpen();
    validatePrefix(prefix);
    const Prefix = this.s.prefix + prefix;
    let token: string | undefined;
    do {
      const page = await this.track('list', prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.s.bucket, Prefix, EncodingType: 'url', ...(token !== undefined && { ContinuationToken: token }) })),
      );
      const encoded = page.EncodingType === 'url';
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        const full = decodeListedKey(o.Key, encoded);
        const key = full.slice(this.s.prefix.length);
        if (!full.startsWith(Prefix) || keyProblem(key) !== undefined) {
          this.logger.debug({ bucket: this.s.bucket, key: full.slice(0, 200) }, 'skipped an object whose key is outside the key grammar');
          continue;
        }
        yield { key, size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  delete(key: string): Promise<void> {
    return this.track('delete', key, async () => {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.s.bucket, Key: this.s3Key(key) }));
    });
  }

  /** Puts then deletes a fresh object under `_probe/`: the bucket exists, the credentials may write. */
  async probe(): Promise<void> {
    const key = `${PROBE_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
    await this.put(key, Buffer.from('probe'));
    await this.delete(key);
  }

  /** Refuses new operations, waits for those in flight, then closes the client's sockets. */
  close(): Promise<void> {
    this.closing ??= this.inflight.close().then(() => this.client.destroy());
    return this.closing;
  }

  /** Creates the bucket unless it exists and is ours (used by `openS3Store` with `createBucket`). */
  async ensureBucket(): Promise<void> {
    await this.track('create-bucket', this.s.bucket, async () => {
      try {
        await this.client.send(
          new CreateBucketCommand({
            Bucket: this.s.bucket,
            ...(this.s.region !== 'us-east-1' && { CreateBucketConfiguration: { LocationConstraint: this.s.region as BucketLocationConstraint } }),
          }),
        );
      } catch (err) {
        if (sdkError(err).name !== 'BucketAlreadyOwnedByYou') throw err;
      }
    });
  }

  /** The S3 key of a store key; throws STRATA_ERR_STORAGE_BAD_KEY for keys outside the grammar or too long with the prefix. */
  private s3Key(key: string): string {
    validateKey(key);
    if (Buffer.byteLength(key) > this.maxKeyBytes) {
      throw storageErrors.STRATA_ERR_STORAGE_BAD_KEY({
        key: JSON.stringify(key.length > 120 ? `${key.slice(0, 120)}…` : key),
        reason: `longer than ${this.maxKeyBytes} bytes, the most S3 takes after the prefix ${JSON.stringify(this.s.prefix)}`,
      });
    }
    return this.s.prefix + key;
  }

  /**
   * Runs one operation: refused after close, awaited by close, and any failure other than our
   * own errors reported as STRATA_ERR_STORAGE_IO.
   */
  private track<T>(op: string, key: string, run: () => Promise<T>): Promise<T> {
    return this.inflight.run(() =>
      run().catch((err: unknown) => {
        throw this.failure(op, key, err);
      }),
    );
  }

  private failure(op: string, key: string, err: unknown): StrataError {
    if (err instanceof StrataError) return err;
    const reason = explain(err);
    this.logger.debug({ op, bucket: this.s.bucket, key, reason }, 'object store operation failed');
    return storageErrors.STRATA_ERR_STORAGE_IO({ op, key, reason, attempts: sdkError(err).$metadata?.attempts }, err);
  }

  /**
   * Uploads `body` in parts of `partSizeBytes` (raised to stay within 10 000 parts), at most
   * `partConcurrency` at a time, then completes; on any failure, stops sending parts, waits for
   * those in flight, aborts the upload and rethrows the first error.
   */
  private async putMultipart(key: string, Key: string, body: Uint8Array, ContentType: string): Promise<void> {
    const { bucket: Bucket } = this.s;
    const partSize = Math.max(this.s.partSizeBytes, Math.ceil(body.byteLength / S3_MAX_PARTS));
    const count = Math.ceil(body.byteLength / partSize);
    // CRC32 like lib-storage: AWS refuses part checksums on an upload created without an algorithm.
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket, Key, ContentType, ChecksumAlgorithm: 'CRC32' }));
    const UploadId = created.UploadId;
    if (!UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
    try {
      const parts: CompletedPart[] = [];
      let next = 0;
      let failed = false;
      const sender = async (): Promise<void> => {
        while (!failed && next < count) {
          const n = next++;
          const chunk = body.subarray(n * partSize, Math.min(body.byteLength, (n + 1) * partSize));
          try {
            const res = await this.client.send(
              new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: n + 1, Body: chunk, ContentLength: chunk.byteLength, ChecksumAlgorithm: 'CRC32' }),
            );
            if (!res.ETag) throw new Error(`UploadPart ${n + 1} returned no ETag`);
            parts[n] = { PartNumber: n + 1, ETag: res.ETag, ...(res.ChecksumCRC32 !== undefined && { ChecksumCRC32: res.ChecksumCRC32 }) };
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      };
      const senders = await Promise.allSettled(Array.from({ length: Math.min(this.s.partConcurrency, count) }, sender));
      const rejected = senders.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected) throw rejected.reason;
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
      } catch (abortErr) {
        this.logger.warn(
          { bucket: Bucket, key, uploadId: UploadId, reason: explain(abortErr) },
          'could not abort a failed multipart upload: its parts stay until the bucket lifecycle rule removes them',
        );
      }
      throw err;
    }
  }
}

/**
 * Opens an S3 object store. No request is made unless `createBucket` is set (so a server boots
 * while S3 is down; `probe` tells when it is up); throws STRATA_ERR_STORAGE_BAD_OPTIONS on bad
 * options and, with `createBucket`, STRATA_ERR_STORAGE_IO when the bucket cannot be created.
 */
export async function openS3Store(opts: S3StoreOptions): Promise<ObjectStore> {
  const settings = parseS3Options(opts);
  const logger = opts.logger ?? silentLogger;
  const store = new S3Store(settings, s3Client(settings), logger);
  if (settings.createBucket) {
    try {
      await store.ensureBucket();
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  logger.info(
    { bucket: settings.bucket, prefix: settings.prefix, region: settings.region, endpoint: settings.endpoint ?? 'aws', credentials: settings.credentials ? 'static' : 'sdk chain' },
    's3 object store opened',
  );
  return store;
}
