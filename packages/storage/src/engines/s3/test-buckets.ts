/** Test helpers: fresh buckets on the shared S3 servers (Ceph RGW, moto), removed with everything in them. */
import { randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { sharedEngines } from '@strata/testkit';
import type { S3StoreOptions } from './config.js';

export type S3Server = 'ceph' | 'moto';

/** Options reaching one of the shared servers (path-style, its test credentials). */
export function serverOptions(server: S3Server): Omit<S3StoreOptions, 'bucket'> {
  const e = sharedEngines()[server];
  return { endpoint: e.endpoint, forcePathStyle: true, credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey } };
}

/** A raw SDK client on the server, to look behind the store (multipart uploads, foreign keys). */
export function rawClient(server: S3Server): S3Client {
  const o = serverOptions(server);
  return new S3Client({ region: 'us-east-1', endpoint: o.endpoint!, forcePathStyle: true, credentials: o.credentials! });
}

/** Incomplete multipart uploads in `bucket` (under `prefix`). */
export async function pendingUploads(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const res = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (res.Uploads ?? []).map((u) => u.Key ?? '');
}

export interface TestBucket {
  name: string;
  client: S3Client;
  /** Deletes every object and incomplete upload, then the bucket. */
  remove(): Promise<void>;
}

/** Creates a bucket named `strata-<label>-<random>` on `server`. */
export async function createTestBucket(server: S3Server, label: string): Promise<TestBucket> {
  const client = rawClient(server);
  const name = `strata-${label}-${randomUUID().slice(0, 8)}`;
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return {
    name,
    client,
    async remove() {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: name, ...(token !== undefined && { ContinuationToken: token }) }));
        await Promise.all((page.Contents ?? []).map((o) => client.send(new DeleteObjectCommand({ Bucket: name, Key: o.Key! }))));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: name }));
      for (const u of uploads.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: u.Key!, UploadId: u.UploadId! }));
      await client.send(new DeleteBucketCommand({ Bucket: name }));
      client.destroy();
    },
  };
}
