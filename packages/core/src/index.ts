export { StrataError, defineErrors, documentedErrorCodes } from './errors.js';
export type { ErrorSpec, ErrorFactory, Catalogue } from './errors.js';
export { uuidv7, uuidv7Time } from './id.js';
export {
  DEVICE_ID_PATTERN,
  EVENT_ID_PATTERN,
  METRIC_NAME_PATTERN,
  TAG_KEY_PATTERN,
  DEFAULT_INGEST_LIMITS,
  DEVICE_KINDS,
} from './event.js';
export type { TelemetryEvent, IngestLimits, DeviceKind } from './event.js';
export { silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { acquireDirLock, isProcessAlive } from './dir-lock.js';
export { Sleeps } from './sleeps.js';
export { Subscription } from './subscription.js';
export type { SubscriptionEndReason } from './subscription.js';
export * as envelope from './envelope.js';
export { mulberry32 } from './random.js';
export { PREDICTION, PREDICTIONS_TOPIC } from './prediction.js';
