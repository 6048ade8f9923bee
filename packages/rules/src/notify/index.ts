export { startNotifier } from './notifier.js';
export { listNotifications, retryNotification } from './store.js';
export { signWebhook, verifyWebhook } from './signature.js';
export { notifyErrors } from './errors.js';
export { NOTIFY_DEFAULTS } from './options.js';
export type { Notifier, NotifierOptions, NotifierStats, NotificationQuery, NotificationStatus, NotificationView } from './types.js';
