import { describe, expect, it } from 'vitest';
import { defineErrors, documentedErrorCodes, StrataError } from './errors.js';

describe('defineErrors', () => {
  const errors = defineErrors({
    STRATA_ERR_TEST_THING: { status: 404, message: 'no thing {name} in {place}' },
    STRATA_ERR_TEST_DOWN: { status: 503, message: 'down' },
  });

  it('makes errors with code, status, filled message and cause', () => {
    const cause = new Error('disk');
    const err = errors.STRATA_ERR_TEST_THING({ name: 'x', place: 'y' }, cause);
    expect(err).toBeInstanceOf(StrataError);
    expect(err).toMatchObject({ code: 'STRATA_ERR_TEST_THING', statusCode: 404, message: 'no thing x in y', cause });
    expect(err.isUserError).toBe(true);
    expect(errors.STRATA_ERR_TEST_DOWN().isUserError).toBe(false);
    expect(errors.STRATA_ERR_TEST_THING.is(err)).toBe(true);
    expect(errors.STRATA_ERR_TEST_DOWN.is(err)).toBe(false);
  });

  it('refuses codes outside the naming scheme', () => {
    expect(() => defineErrors({ BAD: { status: 500, message: '' } })).toThrow(/bad error code/);
  });

  it('finds documented codes in a README', () => {
    expect(documentedErrorCodes('- `STRATA_ERR_A_B` (400)\n- `STRATA_ERR_C_D`, again `STRATA_ERR_A_B`')).toEqual(['STRATA_ERR_A_B', 'STRATA_ERR_C_D']);
  });
});
