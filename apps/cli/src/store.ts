import { join } from 'node:path';
import type { StrataConfig } from '@strata/config';
import { openLocalStore, type ObjectStore } from '@strata/storage';

/**
 * The deployment's object store as its config names it: DATA/lake, or the configured S3 bucket.
 * A CLI command never creates the bucket (`createBucket: false`): a typo'd bucket or environment
 * fails instead of leaving a new, empty bucket behind; the server creates it.
 */
export async function openStore(config: StrataConfig): Promise<ObjectStore> {
  const s3 = config.storage.s3;
  if (config.storage.engine === 's3' && s3) {
    const { openS3Store } = await import('@strata/storage/s3');
    return openS3Store({
      bucket: config.environment ? `${s3.bucket}-${config.environment}` : s3.bucket,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      createBucket: false,
      ...(s3.prefix !== undefined && { prefix: s3.prefix }),
      ...(s3.endpoint !== undefined && { endpoint: s3.endpoint }),
      ...(s3.accessKeyId !== undefined && s3.secretAccessKey !== undefined && { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }),
    });
  }
  return openLocalStore({ root: join(config.dataDir, 'lake') });
}
