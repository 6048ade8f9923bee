import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Fields that may hold credentials: censored wherever they appear (one level deep too). */
const SECRET_FIELDS = ['key', 'masterKey', 'password', 'token', 'accessToken', 'refreshToken', 'secret', 'authorization'];

/**
 * pino JSON lines; human-readable on a TTY. Credentials are redacted wherever they appear.
 * `destination` is for tests that read what was logged.
 */
export function createLogger(opts: { level: string; pretty: boolean | 'auto' }, destination?: NodeJS.WritableStream): Logger {
  const usePretty = opts.pretty === 'auto' ? process.stdout.isTTY === true : opts.pretty;
  const options = {
    level: opts.level,
    base: { pid: process.pid },
    redact: { paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), 'headers["x-api-key"]', 'req.headers["x-api-key"]', 'req.headers.authorization'], censor: '[redacted]' },
  };
  if (destination) return pino(options, destination);
  return usePretty ? pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })) : pino(options);
}
