export { IngestService } from './service.js';
export type { IngestObserver, IngestOptions, IngestResult, RejectReason } from './service.js';
export { httpIngestPlugin } from './sources/http/plugin.js';
export type { HttpIngestOptions } from './sources/http/plugin.js';
export { parseIngestBody, encodeEvents } from './parse/index.js';
export type { ParsedEvent, IngestIssue, ParseResult } from './parse/index.js';
export { ingestErrors } from './errors.js';
