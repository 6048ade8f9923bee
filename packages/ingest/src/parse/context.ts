import type { IngestLimits } from '@strata/core';
import type { IssueList } from './issues.js';

/** What the format parsers share for one request. */
export interface ParseContext {
  nowMs: number;
  limits: IngestLimits;
  issues: IssueList;
  /** The writer's device (a device-bound key, an MQTT topic): the device of items that name none. */
  device?: string;
}

/** Records an issue; returns undefined so a validator can `return fail(...)`. */
export function fail(cx: ParseContext, index: number, field: string, reason: string): undefined {
  cx.issues.add(index, field, reason);
  return undefined;
}

/** Sets `obj[key] = value` as an own data property even for the key `__proto__`. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
