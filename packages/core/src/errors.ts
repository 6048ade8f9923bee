/**
 * Error catalogues: every package declares its errors once, as data, with a stable code
 * (`STRATA_ERR_<AREA>_<WHAT>`), an HTTP status and a message template. Callers create errors
 * from the catalogue so code, status and wording never drift apart (Fastify's lib/errors.js).
 */

export interface ErrorSpec {
  /** HTTP status: 4xx = the caller's fault (do not retry as is), 5xx = ours (retry later). */
  readonly status: number;
  /** Message with `{name}` placeholders filled from the params given at creation. */
  readonly message: string;
}

export class StrataError extends Error {
  override readonly name = 'StrataError';
  readonly code: string;
  readonly statusCode: number;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, statusCode: number, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.statusCode = statusCode;
    this.details = details;
  }

  /** True for errors the caller caused (4xx): retrying the same request will not help. */
  get isUserError(): boolean {
    return this.statusCode >= 400 && this.statusCode < 500;
  }
}

export type ErrorFactory = ((params?: Record<string, unknown>, cause?: unknown) => StrataError) & {
  readonly code: string;
  readonly status: number;
  readonly message: string;
  /** True when `err` was made by this factory. */
  is(err: unknown): err is StrataError;
};

export type Catalogue<T extends Record<string, ErrorSpec>> = { readonly [K in keyof T]: ErrorFactory };

function fill(template: string, params: Record<string, unknown>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** Builds a catalogue: keys are codes, so `errors.STRATA_ERR_X(params)` reads like the docs. */
export function defineErrors<const T extends Record<string, ErrorSpec>>(specs: T): Catalogue<T> {
  const out: Record<string, ErrorFactory> = {};
  for (const [code, spec] of Object.entries(specs)) {
    if (!/^STRATA_ERR_[A-Z0-9]+_[A-Z0-9_]+$/.test(code)) throw new Error(`bad error code ${code}`);
    const factory = ((params: Record<string, unknown> = {}, cause?: unknown) =>
      new StrataError(code, spec.status, fill(spec.message, params), params, cause)) as ErrorFactory;
    Object.assign(factory, { code, status: spec.status, message: spec.message });
    Object.defineProperty(factory, 'is', { value: (err: unknown) => err instanceof StrataError && err.code === code });
    out[code] = factory;
  }
  return Object.freeze(out) as Catalogue<T>;
}

/** Codes (`STRATA_ERR_…` in backticks) a README mentions, in order of first appearance. */
export function documentedErrorCodes(readme: string): string[] {
  return [...readme.matchAll(/`(STRATA_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]!).filter((c, i, all) => all.indexOf(c) === i);
}
