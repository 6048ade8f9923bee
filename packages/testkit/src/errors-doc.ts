import { readFileSync } from 'node:fs';
import { documentedErrorCodes } from '@strata/core';

/**
 * The codes a package README documents (its "Errors" section) and the codes its catalogue
 * defines, both sorted: a test asserts they are equal so docs and code never drift.
 */
export function errorCodesInDocsAndCode(readmeUrl: URL, catalogue: Record<string, unknown>): { documented: string[]; defined: string[] } {
  return {
    documented: documentedErrorCodes(readFileSync(readmeUrl, 'utf8')).sort(),
    defined: Object.keys(catalogue).sort(),
  };
}
