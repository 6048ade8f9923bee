import { silentLogger, type Logger } from '@strata/core';
import type { NotifyChannel, QuietHours } from '../types.js';
import { notifyErrors } from './errors.js';
import { parseHhmm } from './quiet-hours.js';
import type { NotifierOptions } from './types.js';

export const NOTIFY_DEFAULTS = Object.freeze({
  topic: 'alerts',
  group: 'notify',
  maxAttempts: 8,
  retryMinMs: 1_000,
  retryMaxMs: 300_000,
  pollMs: 1_000,
  webhookTimeoutMs: 10_000,
});

export interface NotifierSettings extends Omit<NotifierOptions, 'retry' | 'pollMs' | 'now' | 'logger' | 'topic' | 'group'> {
  topic: string;
  group: string;
  maxAttempts: number;
  retryMinMs: number;
  retryMaxMs: number;
  pollMs: number;
  now: () => number;
  logger: Logger;
}

const bad = (option: string, reason: string) => notifyErrors.STRATA_ERR_NOTIFY_BAD_OPTION({ option, reason });

function int(option: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw bad(option, `must be an integer >= ${min}, got ${String(value)}`);
  return value;
}

function text(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw bad(option, 'must be a non-empty string');
  return value;
}

function checkQuietHours(option: string, q: QuietHours | undefined): void {
  if (q === undefined) return;
  for (const end of ['from', 'to'] as const) {
    if (typeof q[end] !== 'string' || parseHhmm(q[end]) === undefined) throw bad(`${option}.${end}`, 'must be HH:MM (UTC)');
  }
}

function checkChannel(name: string, ch: NotifyChannel): void {
  const at = `channels.${name}`;
  if (ch.type === 'webhook') {
    let url: URL;
    try {
      url = new URL(text(`${at}.url`, ch.url));
    } catch {
      throw bad(`${at}.url`, 'must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`${at}.url`, 'must be an absolute http(s) URL');
    text(`${at}.secret`, ch.secret);
    int(`${at}.timeoutMs`, ch.timeoutMs, 1, 1);
  } else if (ch.type === 'email') {
    if (!Array.isArray(ch.to) || ch.to.length === 0 || !ch.to.every((a) => typeof a === 'string' && a.includes('@'))) {
      throw bad(`${at}.to`, 'must be a non-empty list of email addresses');
    }
  } else {
    throw bad(`${at}.type`, 'must be webhook or email');
  }
  checkQuietHours(`${at}.quietHours`, ch.quietHours);
}

/** Validates the options once, at start (fail fast), and fills in the defaults. */
export function resolveOptions(opts: NotifierOptions): Readonly<NotifierSettings> {
  if (typeof opts.settingsFor !== 'function') throw bad('settingsFor', 'must be a function');
  if (typeof opts.channels !== 'object' || opts.channels === null) throw bad('channels', 'must be an object of channels by name');
  for (const [name, ch] of Object.entries(opts.channels)) checkChannel(name, ch);
  if (opts.smtp) {
    text('smtp.host', opts.smtp.host);
    text('smtp.from', opts.smtp.from);
    const port = opts.smtp.port;
    if (!Number.isSafeInteger(port) || port < 1 || port > 65_535) throw bad('smtp.port', 'must be a TCP port (1-65535)');
  }
  const retryMinMs = int('retry.minMs', opts.retry?.minMs, NOTIFY_DEFAULTS.retryMinMs, 1);
  return Object.freeze({
    ...opts,
    topic: text('topic', opts.topic ?? NOTIFY_DEFAULTS.topic),
    group: text('group', opts.group ?? NOTIFY_DEFAULTS.group),
    maxAttempts: int('retry.maxAttempts', opts.retry?.maxAttempts, NOTIFY_DEFAULTS.maxAttempts, 1),
    retryMinMs,
    retryMaxMs: int('retry.maxMs', opts.retry?.maxMs, Math.max(NOTIFY_DEFAULTS.retryMaxMs, retryMinMs), retryMinMs),
    pollMs: int('pollMs', opts.pollMs, NOTIFY_DEFAULTS.pollMs, 1),
    now: opts.now ?? Date.now,
    logger: opts.logger ?? silentLogger,
  });
}
