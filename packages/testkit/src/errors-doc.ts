import { readFileSync } from 'node:fs';
import { documentedErrorCodes } from '@strata/core';

/**
 * The codes of a package's own areas (`STRATA_ERR_<AREA>_`) that its README documents, and the
 * codes its catalogue defines, both sorted: a test asserts they are equal so docs and code never
 * drift. Codes of other packages the README mentions are left out.
 */
export function errorCodesInDocsAndCode(readmeUrl: URL, catalogue: Record<string, unknown>): { documented: string[]; defined: string[] } {
  const defined = Object.keys(catalogue).sort();
  const areas = new Set(defined.map((code) => code.split('_').slice(0, 3).join('_') + '_'));
  const documented = documentedErrorCodes(readFileSync(readmeUrl, 'utf8')).filter((code) => [...areas].some((a) => code.startsWith(a)));
  return { documented: documented.sort(), defined };
}
