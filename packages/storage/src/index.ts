export type * from './types.js';
export { storageErrors } from './errors.js';
