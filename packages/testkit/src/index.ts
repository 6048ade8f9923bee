export { readRawZone, countBy } from './raw-zone.js';
export type { RawLine } from './raw-zone.js';
export { tempDir } from './temp-dir.js';
export { startServerProcess } from './server-process.js';
export type { ServerProcess } from './server-process.js';
export { errorCodesInDocsAndCode } from './errors-doc.js';
export { startPostgres } from './postgres.js';
export type { PostgresServer } from './postgres.js';
