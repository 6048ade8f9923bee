export { ConfigSchema } from './schema.js';
export type { StrataConfig } from './schema.js';
export { loadConfig } from './load.js';
export type { LoadOptions } from './load.js';
export { configErrors } from './errors.js';
export { ROLES } from './schema.js';
export type { Role } from './schema.js';
