/**
 * A view of a rule registry holding only some of its rules, for consumers that split the work by
 * condition type: the rules role on topic `telemetry` runs every rule but `prediction` ones, the
 * one on topic `predictions` (the scoring role's output) only those. Both see changes as the
 * registry does (same `refresh()`, same `generation`).
 */
import type { VersionedRule } from '../engine/compile.js';
import type { Rule } from './schema.js';

/** What a rules consumer reads its rules from (a RuleRegistry, or a subset of one). */
export interface RuleSource {
  current(): VersionedRule[];
  refresh(): Promise<boolean>;
  readonly generation: number;
}

export function ruleSubset(source: RuleSource, include: (rule: Rule) => boolean): RuleSource {
  return {
    current: () => source.current().filter((v) => include(v.rule)),
    refresh: () => source.refresh(),
    get generation() {
      return source.generation;
    },
  };
}

/** Rules on the scoring role's predictions (condition type `prediction`). */
export const isPredictionRule = (rule: Rule): boolean => rule.condition.type === 'prediction';
