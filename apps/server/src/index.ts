export { buildApp } from './app.js';
export type { AppOptions } from './app.js';
export { startPlatform, TELEMETRY_TOPIC, PLATFORM_TOPICS } from './platform.js';
export type { Platform } from './platform.js';
export { createMetrics } from './metrics.js';
export type { Metrics } from './metrics.js';
export { createLogger } from './logger.js';
export { httpErrors } from './errors.js';
