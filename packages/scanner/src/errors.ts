import { defineErrors } from '@strata/core';

/** The scanner's errors; each is listed in the package README. */
export const scannerErrors = defineErrors({
  STRATA_ERR_SCAN_BAD_REQUEST: { status: 400, message: 'Invalid scan request: {reason}' },
  STRATA_ERR_SCAN_NOT_FOUND: { status: 404, message: 'No scan {id}' },
  STRATA_ERR_SCAN_BUSY: { status: 429, message: '{running} scans are already queued or running; try again when one finishes' },
  STRATA_ERR_SCAN_PUBLISH: { status: 503, message: 'Findings of scan {id} could not be published to the stream: {reason}' },
});
