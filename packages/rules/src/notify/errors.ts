import { defineErrors } from '@strata/core';

/** The notifier's errors (documented in README-notify.md; a test keeps the two in step). */
export const notifyErrors = defineErrors({
  STRATA_ERR_NOTIFY_BAD_OPTION: { status: 400, message: 'invalid notifier option {option}: {reason}' },
  STRATA_ERR_NOTIFY_UNKNOWN_CHANNEL: { status: 400, message: 'notification channel {channel} is not configured' },
  STRATA_ERR_NOTIFY_NO_SMTP: { status: 400, message: 'channel {channel} is an email channel but no SMTP settings are configured' },
  STRATA_ERR_NOTIFY_BAD_QUERY: { status: 400, message: 'invalid notifications query: {reason}' },
});
