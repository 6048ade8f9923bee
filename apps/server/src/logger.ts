import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** pino JSON lines; human-readable on a TTY. Key material is redacted wherever it appears. */
export function createLogger(opts: { level: string; pretty: boolean | 'auto' }): Logger {
  const usePretty = opts.pretty === 'auto' ? process.stdout.isTTY === true : opts.pretty;
  const options = {
    level: opts.level,
    base: { pid: process.pid },
    redact: { paths: ['key', '*.key', 'headers.authorization', 'headers["x-api-key"]', 'password', '*.password'], censor: '[redacted]' },
  };
  return usePretty ? pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })) : pino(options);
}
