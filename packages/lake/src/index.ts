export { startDelivery, DELIVERY_DEFAULTS } from './delivery/delivery.js';
export type { Delivery, DeliveryOptions, DeliveryStats, FlushReport, FlushUnitReport } from './delivery/types.js';
export { hourPath, objectKey, stateKey, MAX_ERROR_RAW_BYTES } from './delivery/layout.js';
export { lakeErrors } from './errors.js';
