export type * from './types.js';
export { partitionFor } from './partitioner.js';
export { streamErrors } from './errors.js';
export { openEmbeddedStream, EMBEDDED_DEFAULTS, TOPIC_DEFAULTS } from './engines/embedded/engine.js';
export type { EmbeddedStream, EmbeddedStreamOptions } from './engines/embedded/engine.js';
