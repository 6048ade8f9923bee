import { fail, setOwn, type ParseContext } from './context.js';
import { fieldPath, isPlainObject, quote, typeName } from './issues.js';
import { NOT_JSON, parseBodyJson } from './json-syntax.js';
import { ID_CHARS, NAME_CHARS, isName, nameProblem, tagValueProblem } from './names.js';
import { invalid, tooMany } from './result.js';
import { timeWindowProblem } from './time.js';
import type { ParseResult, ParsedEvent } from './types.js';

/**
 * `application/senml+json` (RFC 8428). A pack is an array of records; base fields (bn, bt, bu,
 * bv, bver) apply to their record and every later one until changed.
 *
 * Mapping to events:
 * - device = the effective base name with one trailing `:` or `/` removed (without a base name,
 *   the writer's device when there is one); metric = `n`;
 * - time = bt + t seconds; below 2^28 it is relative to now (§4.5.3), else Unix seconds;
 *   rounded to the millisecond;
 * - value = bv + v, or vb as 1/0; vs, vd and s are rejected (Strata metrics are numbers, and a
 *   sum is a different quantity from a reading);
 * - the effective unit (u, else bu) is kept as tag `unit.<metric>`;
 * - records with the same device and time become one event, in order of first appearance;
 *   the same metric twice for one device and time is an error.
 * Records with only base fields are allowed (they set bases for what follows). Unknown fields
 * are ignored, except must-understand fields ending in `_` (§4.4), which are rejected.
 */

/** Relative times are those below 2^28 seconds (RFC 8428 §4.5.3). */
const RELATIVE_LIMIT = 2 ** 28;
const MAX_VERSION = 10;

interface Bases {
  bn: string | undefined;
  bt: number;
  bu: string | undefined;
  bv: number;
}

function numberField(v: unknown, k: string, index: number, cx: ParseContext): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return fail(cx, index, k, `${k} must be a number, got ${typeName(v)}`);
}

function stringField(v: unknown, k: string, index: number, cx: ParseContext): string | undefined {
  if (typeof v === 'string') return v;
  return fail(cx, index, k, `${k} must be a string, got ${typeName(v)}`);
}

export function parseSenmlBody(text: string, cx: ParseContext): ParseResult {
  const doc = parseBodyJson(text, cx);
  if (doc === NOT_JSON) return invalid(cx);
  if (!Array.isArray(doc)) {
    cx.issues.add(0, '', `a SenML pack must be a JSON array of records, got ${typeName(doc)}`);
    return invalid(cx);
  }
  const { maxEventsPerRequest, maxMetricsPerEvent } = cx.limits;
  if (doc.length === 0) {
    cx.issues.add(0, '', 'the SenML pack is empty; send at least one record');
    return invalid(cx);
  }
  // Each record is at most one metric of one event, so a longer pack cannot fit.
  const maxRecords = maxEventsPerRequest * maxMetricsPerEvent;
  if (doc.length > maxRecords) {
    return { ok: false, status: 413, issues: [{ index: maxRecords, field: '', reason: `${doc.length} SenML records in one request; at most ${maxEventsPerRequest} events of ${maxMetricsPerEvent} metrics` }] };
  }
  const bases: Bases = { bn: undefined, bt: 0, bu: undefined, bv: 0 };
  const slots = new Map<string, Slot>();
  const events: ParsedEvent[] = [];
  let firstOver = -1;
  for (let i = 0; i < doc.length; i++) {
    const rec: unknown = doc[i];
    if (!isPlainObject(rec)) {
      fail(cx, i, '', `SenML record must be a JSON object, got ${typeName(rec)}`);
      continue;
    }
    const r = record(rec, i, bases, cx);
    if (r !== undefined) merge(r, i, slots, events, cx);
    if (firstOver < 0 && events.length > maxEventsPerRequest) firstOver = i;
  }
  if (events.length > maxEventsPerRequest) return tooMany(events.length, maxEventsPerRequest, firstOver);
  if (events.length === 0 && cx.issues.count === 0) cx.issues.add(0, '', 'the SenML pack has only base fields; send at least one record with n and v or vb');
  return cx.issues.count > 0 ? invalid(cx) : { ok: true, events };
}

/** An event being assembled from records, with its counts (to avoid re-counting keys). */
interface Slot {
  ev: ParsedEvent;
  metrics: number;
}

function merge(r: Resolved, i: number, slots: Map<string, Slot>, events: ParsedEvent[], cx: ParseContext): void {
  const key = `${r.device}\n${r.tsMs}`;
  let slot = slots.get(key);
  if (slot === undefined) {
    slot = { ev: { device: r.device, tsMs: r.tsMs, metrics: {} }, metrics: 0 };
    slots.set(key, slot);
    events.push(slot.ev);
  } else if (Object.hasOwn(slot.ev.metrics, r.name)) {
    fail(cx, i, 'n', `metric ${quote(r.name)} appears twice for device ${quote(r.device)} at ${new Date(r.tsMs).toISOString()}`);
    return;
  }
  const { ev } = slot;
  if (slot.metrics >= cx.limits.maxMetricsPerEvent) {
    fail(cx, i, 'n', `more than ${cx.limits.maxMetricsPerEvent} metrics for device ${quote(r.device)} at ${new Date(r.tsMs).toISOString()}`);
    return;
  }
  // Unit tags are not counted against maxTagsPerEvent: there is at most one per metric, so the
  // metric limit bounds them, and a 40-metric pack with units is a normal SenML message.
  if (r.unit !== undefined) setOwn((ev.tags ??= {}), `unit.${r.name}`, r.unit);
  setOwn(ev.metrics, r.name, r.value);
  slot.metrics++;
}

interface Resolved {
  device: string;
  name: string;
  tsMs: number;
  value: number;
  unit: string | undefined;
}

/** Updates the bases from one record and resolves it; undefined for base-only or invalid records. */
function record(rec: Record<string, unknown>, i: number, bases: Bases, cx: ParseContext): Resolved | undefined {
  let n: string | undefined;
  let u: string | undefined;
  let v: number | undefined;
  let vb: boolean | undefined;
  let t = 0;
  let regular = false;
  for (const k in rec) {
    const x = rec[k];
    switch (k) {
      case 'bn': {
        const s = stringField(x, k, i, cx);
        if (s === undefined) return undefined;
        bases.bn = s;
        break;
      }
      case 'bt':
      case 'bv': {
        const num = numberField(x, k, i, cx);
        if (num === undefined) return undefined;
        bases[k] = num;
        break;
      }
      case 'bu': {
        const s = stringField(x, k, i, cx);
        if (s === undefined) return undefined;
        bases.bu = s;
        break;
      }
      case 'bs':
        if (numberField(x, k, i, cx) === undefined) return undefined;
        break;
      case 'bver': {
        if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) return fail(cx, i, k, `bver must be a positive integer, got ${typeName(x)}`);
        if (x > MAX_VERSION) return fail(cx, i, k, `SenML version ${x} is not supported (at most ${MAX_VERSION})`);
        break;
      }
      case 'n':
        n = stringField(x, k, i, cx);
        if (n === undefined) return undefined;
        regular = true;
        break;
      case 'u':
        u = stringField(x, k, i, cx);
        if (u === undefined) return undefined;
        regular = true;
        break;
      case 'v':
        v = numberField(x, k, i, cx);
        if (v === undefined) return undefined;
        regular = true;
        break;
      case 'vb':
        if (typeof x !== 'boolean') return fail(cx, i, k, `vb must be true or false, got ${typeName(x)}`);
        vb = x;
        regular = true;
        break;
      case 'vs':
        return fail(cx, i, k, 'string values (vs) are not supported: metrics are numbers; send v or vb');
      case 'vd':
        return fail(cx, i, k, 'data values (vd) are not supported: metrics are numbers; send v or vb');
      case 's':
        return fail(cx, i, k, 'sums (s) are not supported: send the reading as v');
      case 't': {
        const num = numberField(x, k, i, cx);
        if (num === undefined) return undefined;
        t = num;
        regular = true;
        break;
      }
      case 'ut':
        if (numberField(x, k, i, cx) === undefined) return undefined;
        regular = true;
        break;
      default:
        if (k.endsWith('_')) return fail(cx, i, fieldPath('', k), `must-understand field ${quote(k)} is not supported`);
    }
  }
  if (!regular) return undefined;
  const { bn } = bases;
  let device = bn ?? cx.device ?? '';
  const last = device.charCodeAt(device.length - 1);
  if (last === 58 || last === 47) device = device.slice(0, -1);
  if (device === '') return fail(cx, i, 'bn', 'SenML record needs a base name (bn) naming the device');
  if (!isName(device, ID_CHARS)) return fail(cx, i, 'bn', `device ${quote(device)} (from bn) ${nameProblem(device, ID_CHARS)}`);
  if (n === undefined) return fail(cx, i, 'n', 'SenML record needs a name (n) for the metric; the base name (bn) names the device');
  if (!isName(n, NAME_CHARS)) return fail(cx, i, 'n', `metric name ${quote(n)} ${nameProblem(n, NAME_CHARS)}`);
  let value: number;
  if (v !== undefined) {
    if (vb !== undefined) return fail(cx, i, 'vb', 'a record carries one value: v or vb, not both');
    value = bases.bv + v;
    if (!Number.isFinite(value)) return fail(cx, i, 'v', 'bv + v is not a finite number');
  } else if (vb !== undefined) {
    value = vb ? 1 : 0;
  } else {
    return fail(cx, i, '', 'SenML record has no value (v or vb)');
  }
  const seconds = bases.bt + t;
  const tsMs = seconds < RELATIVE_LIMIT ? cx.nowMs + Math.round(seconds * 1000) : Math.round(seconds * 1000);
  const problem = Number.isFinite(tsMs) ? timeWindowProblem(tsMs, cx.nowMs, cx.limits) : 'bt + t is not a finite number';
  if (problem !== undefined) return fail(cx, i, 't', `time ${problem}`);
  const unit = u ?? bases.bu;
  if (unit === undefined || unit === '') return { device, name: n, tsMs, value, unit: undefined };
  const tagKey = `unit.${n}`;
  if (!isName(tagKey, NAME_CHARS)) return fail(cx, i, 'n', `unit tag key ${quote(tagKey)} ${nameProblem(tagKey, NAME_CHARS)}`);
  const unitProblem = tagValueProblem(unit, cx.limits.maxTagValueLength);
  if (unitProblem !== undefined) return fail(cx, i, u !== undefined ? 'u' : 'bu', `unit ${unitProblem}`);
  return { device, name: n, tsMs, value, unit };
}
