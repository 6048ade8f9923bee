import type { QuietHours } from '../types.js';

const DAY_MS = 86_400_000;
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes after midnight of an `HH:MM` time, or undefined when it is not one. */
export function parseHhmm(s: string): number | undefined {
  const m = HHMM.exec(s);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/**
 * When `t` (Unix ms) falls in the quiet hours (UTC, `from` inclusive, `to` exclusive, possibly
 * across midnight), the end of that window; otherwise undefined. `from == to` means none.
 */
export function quietHoursEnd(quiet: QuietHours | undefined, t: number): number | undefined {
  if (!quiet) return undefined;
  const from = parseHhmm(quiet.from);
  const to = parseHhmm(quiet.to);
  if (from === undefined || to === undefined || from === to) return undefined;
  const dayStart = Math.floor(t / DAY_MS) * DAY_MS;
  const ms = t - dayStart;
  const [fromMs, toMs] = [from * 60_000, to * 60_000];
  if (from < to) return ms >= fromMs && ms < toMs ? dayStart + toMs : undefined;
  if (ms >= fromMs) return dayStart + DAY_MS + toMs;
  return ms < toMs ? dayStart + toMs : undefined;
}
