export type * from './types.js';
export { partitionFor } from './partitioner.js';
export { streamErrors } from './errors.js';
export { openEmbeddedStream, EMBEDDED_DEFAULTS } from './engines/embedded/engine.js';
export { TOPIC_DEFAULTS } from './records.js';
export type { EmbeddedStream, EmbeddedStreamOptions } from './engines/embedded/engine.js';
