export type * from './types.js';
export { partitionFor } from './partitioner.js';
export { streamErrors } from './errors.js';
