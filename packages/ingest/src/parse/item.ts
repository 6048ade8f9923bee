import { fail, setOwn, type ParseContext } from './context.js';
import { fieldPath, isPlainObject, quote, typeName } from './issues.js';
import { ID_CHARS, NAME_CHARS, isName, nameProblem, tagValueProblem } from './names.js';
import { resolveJsonTime } from './time.js';
import type { ParsedEvent } from './types.js';

/**
 * One JSON item (array element, single object or NDJSON line) to an event, in either shape:
 *
 * - canonical, recognised by a `metrics` field: `{id?, device, ts?, metrics, tags?}`; any other
 *   field is an error;
 * - flat (seed 002): `{sensorId|deviceId|device, timestamp|ts?, id?, tags?, <metric>: number|boolean ...}`.
 *
 * Without a device field the item is the writer's device (`cx.device`) when there is one.
 *
 * Reports the first problem of an invalid item and returns undefined. Walks each object once;
 * the canonical `metrics` and `tags` objects are reused (booleans rewritten to 1/0 in place).
 */
export function eventFromItem(item: unknown, index: number, cx: ParseContext): ParsedEvent | undefined {
  if (!isPlainObject(item)) return fail(cx, index, '', `item must be a JSON object, got ${typeName(item)}`);
  return item.metrics !== undefined ? canonicalEvent(item, index, cx) : flatEvent(item, index, cx);
}

const DEVICE_FIELDS = 'sensorId, deviceId or device';
const SENML_KEYS = new Set(['bn', 'bt', 'bu', 'bver', 'n', 'u', 'vs', 'vb', 'vd']);

function nameReason(v: unknown, what: string, cls: number): string | undefined {
  if (typeof v !== 'string') return `${what} must be a string, got ${typeName(v)}`;
  if (isName(v, cls)) return undefined;
  return `${what} ${quote(v)} ${nameProblem(v, cls)}`;
}

/** A metric value as a number, or undefined when it is neither a finite number nor a boolean. */
function metricValue(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

function metricValueReason(name: string, v: unknown): string {
  if (typeof v === 'number') return `metric ${quote(name)} is not a finite number`;
  return `metric ${quote(name)} must be a number or boolean, got ${typeName(v)}`;
}

/** Validated tags (undefined when absent or empty), or false after reporting an issue. */
function tagsOf(v: unknown, index: number, cx: ParseContext): Record<string, string> | undefined | false {
  if (!isPlainObject(v)) {
    cx.issues.add(index, 'tags', `tags must be an object of key: string, got ${typeName(v)}`);
    return false;
  }
  const { maxTagsPerEvent, maxTagValueLength } = cx.limits;
  let count = 0;
  for (const k in v) {
    const value = v[k];
    if (!isName(k, NAME_CHARS)) {
      cx.issues.add(index, fieldPath('tags', k), `tag key ${quote(k)} ${nameProblem(k, NAME_CHARS)}`);
      return false;
    }
    if (typeof value !== 'string') {
      cx.issues.add(index, fieldPath('tags', k), `tag ${quote(k)} must be a string, got ${typeName(value)}`);
      return false;
    }
    const problem = tagValueProblem(value, maxTagValueLength);
    if (problem !== undefined) {
      cx.issues.add(index, fieldPath('tags', k), `tag ${quote(k)} ${problem}`);
      return false;
    }
    if (++count > maxTagsPerEvent) {
      cx.issues.add(index, 'tags', `more than ${maxTagsPerEvent} tags in one event`);
      return false;
    }
  }
  return count === 0 ? undefined : (v as Record<string, string>);
}

function makeEvent(id: string | undefined, device: string, tsMs: number, metrics: Record<string, number>, tags: Record<string, string> | undefined): ParsedEvent {
  const ev: ParsedEvent = { device, tsMs, metrics };
  if (id !== undefined) ev.id = id;
  if (tags !== undefined) ev.tags = tags;
  return ev;
}

function canonicalEvent(o: Record<string, unknown>, index: number, cx: ParseContext): ParsedEvent | undefined {
  let id: string | undefined;
  let device: string | undefined;
  let tsMs = cx.nowMs;
  let tags: Record<string, string> | undefined;
  for (const k in o) {
    const v = o[k];
    switch (k) {
      case 'id': {
        const problem = nameReason(v, 'id', ID_CHARS);
        if (problem !== undefined) return fail(cx, index, 'id', problem);
        id = v as string;
        break;
      }
      case 'device': {
        const problem = nameReason(v, 'device', ID_CHARS);
        if (problem !== undefined) return fail(cx, index, 'device', problem);
        device = v as string;
        break;
      }
      case 'ts': {
        const t = resolveJsonTime(v, 'ts', cx.nowMs, cx.limits);
        if (typeof t !== 'number') return fail(cx, index, 'ts', t.reason);
        tsMs = t;
        break;
      }
      case 'metrics':
        break;
      case 'tags': {
        const t = tagsOf(v, index, cx);
        if (t === false) return undefined;
        tags = t;
        break;
      }
      default:
        return fail(cx, index, fieldPath('', k), `unknown field ${quote(k)}: an event with "metrics" has only id, device, ts, metrics and tags`);
    }
  }
  device ??= cx.device;
  if (device === undefined) return fail(cx, index, 'device', 'device is required');
  const m = o.metrics;
  if (!isPlainObject(m)) return fail(cx, index, 'metrics', `metrics must be an object of name: number, got ${typeName(m)}`);
  const max = cx.limits.maxMetricsPerEvent;
  let count = 0;
  for (const k in m) {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const num = metricValue(v);
      if (num === undefined) return fail(cx, index, fieldPath('metrics', k), metricValueReason(k, v));
      m[k] = num;
    }
    if (!isName(k, NAME_CHARS)) return fail(cx, index, fieldPath('metrics', k), `metric name ${quote(k)} ${nameProblem(k, NAME_CHARS)}`);
    if (++count > max) return fail(cx, index, 'metrics', `more than ${max} metrics in one event`);
  }
  if (count === 0) return fail(cx, index, 'metrics', 'metrics is empty; an event needs at least one metric');
  return makeEvent(id, device, tsMs, m as Record<string, number>, tags);
}

function flatEvent(o: Record<string, unknown>, index: number, cx: ParseContext): ParsedEvent | undefined {
  let id: string | undefined;
  let device: string | undefined;
  let deviceKey: string | undefined;
  let timeKey: string | undefined;
  let tsMs = cx.nowMs;
  let tags: Record<string, string> | undefined;
  const metrics: Record<string, number> = {};
  const max = cx.limits.maxMetricsPerEvent;
  let count = 0;
  for (const k in o) {
    const v = o[k];
    switch (k) {
      case 'sensorId':
      case 'deviceId':
      case 'device': {
        if (deviceKey !== undefined) return fail(cx, index, k, `both ${deviceKey} and ${k} are given; send one of ${DEVICE_FIELDS}`);
        const problem = nameReason(v, k, ID_CHARS);
        if (problem !== undefined) return fail(cx, index, k, problem);
        deviceKey = k;
        device = v as string;
        break;
      }
      case 'timestamp':
      case 'ts': {
        if (timeKey !== undefined) return fail(cx, index, k, `both ${timeKey} and ${k} are given; send one of timestamp or ts`);
        const t = resolveJsonTime(v, k, cx.nowMs, cx.limits);
        if (typeof t !== 'number') return fail(cx, index, k, t.reason);
        timeKey = k;
        tsMs = t;
        break;
      }
      case 'id': {
        const problem = nameReason(v, 'id', ID_CHARS);
        if (problem !== undefined) return fail(cx, index, 'id', problem);
        id = v as string;
        break;
      }
      case 'tags': {
        const t = tagsOf(v, index, cx);
        if (t === false) return undefined;
        tags = t;
        break;
      }
      default: {
        const num = metricValue(v);
        if (num === undefined) {
          let hint = '';
          if (typeof v !== 'number') hint = SENML_KEYS.has(k) ? ' (SenML? send it as application/senml+json)' : ' (every other field is a metric)';
          return fail(cx, index, fieldPath('', k), metricValueReason(k, v) + hint);
        }
        if (!isName(k, NAME_CHARS)) return fail(cx, index, fieldPath('', k), `metric name ${quote(k)} ${nameProblem(k, NAME_CHARS)}`);
        if (++count > max) return fail(cx, index, '', `more than ${max} metrics in one event`);
        setOwn(metrics, k, num);
      }
    }
  }
  device ??= cx.device;
  if (device === undefined) return fail(cx, index, 'device', `device is required: give ${DEVICE_FIELDS}`);
  if (count === 0) {
    return fail(cx, index, '', 'no metrics: an event needs at least one number or boolean field besides the device, time, id and tags');
  }
  return makeEvent(id, device, tsMs, metrics, tags);
}
