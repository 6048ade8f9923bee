/** The logging surface the engine needs; a pino logger (or a child of one) fits it. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const noop = (): void => {};

export const silentLogger: Logger = { info: noop, warn: noop, error: noop, debug: noop };
