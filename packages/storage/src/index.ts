export type * from './types.js';
export { storageErrors } from './errors.js';
export { validateKey, validatePrefix, compareKeys, MAX_KEY_BYTES, MAX_SEGMENT_BYTES } from './key.js';
export { openLocalStore } from './engines/local/store.js';
export type { LocalStoreOptions } from './engines/local/store.js';
