import { describe, expect, it } from 'vitest';
import { errorCodesInDocsAndCode } from '@strata/testkit';
import { scannerErrors } from './errors.js';

describe('scanner error catalogue', () => {
  it('is documented in the README, code for code', () => {
    const { documented, defined } = errorCodesInDocsAndCode(new URL('../README.md', import.meta.url), scannerErrors);
    expect(documented).toEqual(defined);
  });

  it('tells the caller’s faults (4xx) from the server’s (5xx)', () => {
    expect(scannerErrors.STRATA_ERR_SCAN_BAD_REQUEST({ reason: 'x' }).isUserError).toBe(true);
    expect(scannerErrors.STRATA_ERR_SCAN_PUBLISH({ id: 'x', reason: 'y' }).isUserError).toBe(false);
  });
});
