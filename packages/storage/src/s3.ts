/**
 * The S3 engine, on an entry of its own (`@strata/storage/s3`): the AWS SDK takes ~150 ms to
 * load, which every process on the local engine (and every CLI command) would pay otherwise.
 */
export { openS3Store, type S3StoreOptions, type S3Credentials } from './engines/s3/store.js';
