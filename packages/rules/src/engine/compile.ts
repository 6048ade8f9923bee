/**
 * Rules compiled for the hot path: tests become closures, severities ranks, seconds
 * milliseconds, scopes sets; per-device overrides are compiled once, up front.
 */
import type { DeviceKind } from '@strata/core';
import { PREDICTION_DEFAULT_PROBABILITY, PREDICTION_METRIC, type ClearTest, type EscalateLevel, type Rule, type RuleCondition } from '../definition/schema.js';
import { news2LevelRank, type News2Level } from '../news2/news2.js';
import { SEVERITIES, severityRank, type Severity } from '../types.js';

/** A rule and the version of it in force. */
export interface VersionedRule {
  rule: Rule;
  version: number;
}

type Test = (v: number) => boolean;

export interface CompiledCondition {
  type: RuleCondition['type'];
  /** The metric read (threshold, rate, prediction; missing when it watches one metric). */
  metric: string | undefined;
  holds: Test;
  clears: Test;
  /** Severity rank for a value that holds, from the rule's own and its escalation levels. */
  severityOf(v: number, base: number): number;
  forMs: number;
  clearForMs: number;
  repeat: { count: number; withinMs: number } | undefined;
  windowMs: number;
  afterMs: number;
  spo2Scale: 1 | 2;
  minLevelRank: number;
  maxAgeMs: number;
}

export interface CompiledRule {
  id: string;
  version: number;
  title: string;
  enabled: boolean;
  severity: number;
  autoResolve: boolean;
  condition: CompiledCondition;
  kinds: ReadonlySet<DeviceKind> | undefined;
  tags: readonly (readonly [string, string])[];
  devices: ReadonlySet<string> | undefined;
  overrides: ReadonlyMap<string, { enabled: boolean; severity: number; condition: CompiledCondition }>;
}

export const severityName = (r: number): Severity => SEVERITIES[r] ?? 'critical';

function comparison(op: string, x: number): Test {
  switch (op) {
    case '>':
      return (v) => v > x;
    case '>=':
      return (v) => v >= x;
    case '<':
      return (v) => v < x;
    default:
      return (v) => v <= x;
  }
}

function test(t: { op: string; value?: number | undefined; range?: [number, number] | undefined }): Test {
  if (t.op === 'outside') {
    const [lo, hi] = t.range!;
    return (v) => v < lo || v > hi;
  }
  return comparison(t.op, t.value!);
}

function escalation(levels: readonly EscalateLevel[] | undefined): CompiledCondition['severityOf'] {
  if (!levels || levels.length === 0) return (_v, base) => base;
  const compiled = levels.map((l) => ({ test: comparison(l.op, l.value), rank: severityRank(l.severity) }));
  return (v, base) => {
    let r = base;
    for (const l of compiled) if (l.rank > r && l.test(v)) r = l.rank;
    return r;
  };
}

const never: Test = () => false;
const ms = (seconds: number | undefined): number => Math.round((seconds ?? 0) * 1000);

function compileCondition(c: RuleCondition): CompiledCondition {
  const base: CompiledCondition = {
    type: c.type,
    metric: undefined,
    holds: never,
    clears: never,
    severityOf: (_v, b) => b,
    forMs: 0,
    clearForMs: 0,
    repeat: undefined,
    windowMs: 0,
    afterMs: 0,
    spo2Scale: 1,
    minLevelRank: 1,
    maxAgeMs: 900_000,
  };
  switch (c.type) {
    case 'threshold':
    case 'rate': {
      const holds = test(c);
      const clear = c.clear as ClearTest | undefined;
      return {
        ...base,
        metric: c.metric,
        holds,
        clears: clear ? test(clear) : (v) => !holds(v),
        severityOf: escalation(c.escalate),
        forMs: ms(c.forSeconds),
        clearForMs: ms(clear?.forSeconds),
        repeat: c.type === 'threshold' && c.repeat ? { count: c.repeat.count, withinMs: ms(c.repeat.withinSeconds) } : undefined,
        windowMs: c.type === 'rate' ? ms(c.windowSeconds) : 0,
      };
    }
    case 'prediction': {
      // A threshold on the scoring role's probability: at or above `minProbability` holds, below `clear.below` clears.
      const min = c.minProbability ?? PREDICTION_DEFAULT_PROBABILITY;
      const below = c.clear?.below ?? min;
      return {
        ...base,
        metric: PREDICTION_METRIC,
        holds: (v) => v >= min,
        clears: (v) => v < below,
        forMs: ms(c.forSeconds),
        clearForMs: ms(c.clear?.forSeconds),
      };
    }
    case 'missing':
      return { ...base, metric: c.metric, afterMs: ms(c.afterSeconds) };
    case 'news2':
      return {
        ...base,
        spo2Scale: c.spo2Scale ?? 1,
        minLevelRank: news2LevelRank((c.minLevel ?? 'low') as News2Level),
        maxAgeMs: ms(c.maxAgeSeconds ?? 900),
      };
  }
}

export function compileRule({ rule, version }: VersionedRule): CompiledRule {
  const severity = severityRank(rule.severity ?? (rule.condition.type === 'prediction' ? 'high' : 'medium'));
  const enabled = rule.enabled ?? true;
  const overrides = new Map<string, { enabled: boolean; severity: number; condition: CompiledCondition }>();
  const condition = compileCondition(rule.condition);
  for (const o of rule.overrides ?? []) {
    const compiled = {
      enabled: o.enabled ?? enabled,
      severity: o.severity ? severityRank(o.severity) : severity,
      condition: o.condition ? compileCondition({ ...rule.condition, ...o.condition } as RuleCondition) : condition,
    };
    for (const device of o.devices) overrides.set(device, compiled);
  }
  return {
    id: rule.id,
    version,
    title: rule.title,
    enabled,
    severity,
    autoResolve: rule.autoResolve ?? true,
    condition,
    kinds: rule.scope?.kinds ? new Set(rule.scope.kinds) : undefined,
    tags: Object.entries(rule.scope?.tags ?? {}),
    devices: rule.scope?.devices ? new Set(rule.scope.devices) : undefined,
    overrides,
  };
}

/** Whether the rule watches a device of this kind and tags. */
export function inScope(rule: CompiledRule, device: string, kind: DeviceKind, tags: Readonly<Record<string, string>>): boolean {
  if (rule.devices && !rule.devices.has(device)) return false;
  if (rule.kinds && !rule.kinds.has(kind)) return false;
  for (const [k, v] of rule.tags) if (tags[k] !== v) return false;
  return true;
}
