/** Options of the S3 engine: the documented defaults in one object, and one validating parse. */
import type { Logger } from '@strata/core';
import { storageErrors } from '../../errors.js';
import { keyProblem, MAX_KEY_BYTES } from '../../key.js';

const MiB = 1024 * 1024;

/** S3's limits on multipart uploads (the same on AWS, Ceph RGW and moto). */
export const S3_MIN_PART_BYTES = 5 * MiB;
export const S3_MAX_PART_BYTES = 5 * 1024 * MiB;
export const S3_MAX_PARTS = 10_000;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3StoreOptions {
  /** The bucket holding the objects. */
  bucket: string;
  /**
   * Key prefix inside the bucket (`env/prod`, with or without a trailing `/`), so environments
   * can share a bucket. Keys then have 1024 bytes (S3's limit) minus the prefix and its `/`.
   */
  prefix?: string;
  /** Default `us-east-1` (Ceph RGW and moto accept any). */
  region?: string;
  /** Endpoint URL for S3-compatible servers (Ceph RGW, MinIO, moto); default AWS's. */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`): needed by most S3-compatible servers. Default false. */
  forcePathStyle?: boolean;
  /** Static credentials; default the SDK's chain (env, shared files, web identity, ECS/EC2 roles). */
  credentials?: S3Credentials;
  /** Bodies larger than this go up as a multipart upload. Default 16 MiB; 5 MiB to 5 GiB. */
  multipartThresholdBytes?: number;
  /** Part size of multipart uploads (raised when a body would need more than 10 000 parts). Default 8 MiB; 5 MiB to 5 GiB. */
  partSizeBytes?: number;
  /** Parts of one multipart upload sent at once. Default 4. */
  partConcurrency?: number;
  /** Attempts per request, the first included (the SDK's standard retries: exponential backoff with jitter). Default 3. */
  maxAttempts?: number;
  /** A connection not established within this fails the attempt. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** An attempt whose socket stays idle this long fails. Default 30 000 ms. */
  idleTimeoutMs?: number;
  /** Create the bucket on open when it does not exist. Default false (the bucket is provisioned). */
  createBucket?: boolean;
  logger?: Logger;
}

/** The options after defaults and validation (frozen). */
export interface S3StoreSettings {
  bucket: string;
  /** '' or ends with `/`. */
  prefix: string;
  region: string;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  credentials: S3Credentials | undefined;
  multipartThresholdBytes: number;
  partSizeBytes: number;
  partConcurrency: number;
  maxAttempts: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  createBucket: boolean;
}

export const S3_STORE_DEFAULTS = Object.freeze({
  prefix: '',
  region: 'us-east-1',
  forcePathStyle: false,
  multipartThresholdBytes: 16 * MiB,
  partSizeBytes: 8 * MiB,
  partConcurrency: 4,
  maxAttempts: 3,
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  createBucket: false,
});

/** Bucket names S3 and S3-compatible servers accept (lenient: legacy names with `_` or capitals too). */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/;

function bad(reason: string): Error {
  return storageErrors.STRATA_ERR_STORAGE_BAD_OPTIONS({ reason });
}

function intIn(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(`\`${name}\` must be an integer from ${min} to ${max}`);
  }
  return value;
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw bad(`\`${name}\` must be true or false`);
  return value;
}

function nonEmpty(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw bad(`\`${name}\` must be a non-empty string`);
  return value;
}

/** Applies the defaults and checks every option; throws STRATA_ERR_STORAGE_BAD_OPTIONS. Never echoes credentials. */
export function parseS3Options(opts: S3StoreOptions): Readonly<S3StoreSettings> {
  if (typeof opts !== 'object' || opts === null) throw bad('options must be an object');
  const d = S3_STORE_DEFAULTS;
  if (typeof opts.bucket !== 'string' || !BUCKET.test(opts.bucket)) {
    throw bad('`bucket` must be a bucket name (3 to 255 letters, digits, ".", "-" or "_")');
  }
  let prefix = opts.prefix ?? d.prefix;
  if (typeof prefix !== 'string') throw bad('`prefix` must be a string');
  if (prefix !== '') {
    prefix = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    const problem = keyProblem(prefix);
    if (problem !== undefined) throw bad(`\`prefix\` must follow the key grammar: ${problem}`);
    prefix += '/';
    if (Buffer.byteLength(prefix) > MAX_KEY_BYTES / 2) throw bad(`\`prefix\` must leave keys at least ${MAX_KEY_BYTES / 2} bytes`);
  }
  const region = opts.region === undefined ? d.region : nonEmpty('region', opts.region);
  let endpoint: string | undefined;
  if (opts.endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(nonEmpty('endpoint', opts.endpoint));
    } catch {
      throw bad('`endpoint` must be an http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('`endpoint` must be an http(s) URL');
    if (url.username !== '' || url.password !== '') throw bad('`endpoint` must not hold credentials: use `credentials`');
    endpoint = opts.endpoint;
  }
  let credentials: S3Credentials | undefined;
  if (opts.credentials !== undefined) {
    const c = opts.credentials;
    if (typeof c !== 'object' || c === null) throw bad('`credentials` must be { accessKeyId, secretAccessKey, sessionToken? }');
    credentials = {
      accessKeyId: nonEmpty('credentials.accessKeyId', c.accessKeyId),
      secretAccessKey: nonEmpty('credentials.secretAccessKey', c.secretAccessKey),
      ...(c.sessionToken !== undefined && { sessionToken: nonEmpty('credentials.sessionToken', c.sessionToken) }),
    };
  }
  return Object.freeze({
    bucket: opts.bucket,
    prefix,
    region,
    endpoint,
    forcePathStyle: flag('forcePathStyle', opts.forcePathStyle, d.forcePathStyle),
    credentials,
    multipartThresholdBytes: intIn('multipartThresholdBytes', opts.multipartThresholdBytes, d.multipartThresholdBytes, S3_MIN_PART_BYTES, S3_MAX_PART_BYTES),
    partSizeBytes: intIn('partSizeBytes', opts.partSizeBytes, d.partSizeBytes, S3_MIN_PART_BYTES, S3_MAX_PART_BYTES),
    partConcurrency: intIn('partConcurrency', opts.partConcurrency, d.partConcurrency, 1, 64),
    maxAttempts: intIn('maxAttempts', opts.maxAttempts, d.maxAttempts, 1, 20),
    connectTimeoutMs: intIn('connectTimeoutMs', opts.connectTimeoutMs, d.connectTimeoutMs, 1, 600_000),
    idleTimeoutMs: intIn('idleTimeoutMs', opts.idleTimeoutMs, d.idleTimeoutMs, 1, 3_600_000),
    createBucket: flag('createBucket', opts.createBucket, d.createBucket),
  });
}
