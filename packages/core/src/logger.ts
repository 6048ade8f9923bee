/** The slice of pino's API Strata's libraries log through (fields first, short message); a pino logger or child fits it. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const noop = (): void => undefined;

/** Logs nothing: the default when no logger is given. */
export const silentLogger: Logger = Object.freeze({ info: noop, warn: noop, error: noop, debug: noop });
