import { InvalidArgumentError } from 'commander';

/** Commander option parsers that fail with a clear message instead of passing NaN along. */
export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be an integer from 0 to 65535');
  return n;
}

export function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Flags shared by every command that works on a data dir, mapped to config paths. */
export interface CommonFlags {
  config?: string;
  data?: string;
}

export function commonOverrides(flags: CommonFlags): Record<string, unknown> {
  return { dataDir: flags.data };
}
