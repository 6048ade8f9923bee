import { describe, expect, it } from 'vitest';
import type { VersionedRule } from '../engine/compile.js';
import { validateRule } from './validate.js';
import { isPredictionRule, ruleSubset, type RuleSource } from './subset.js';

const hot = { rule: validateRule({ id: 'hot', title: 'Hot', condition: { type: 'threshold', metric: 't', op: '>', value: 80 } }), version: 1 };
const pm = { rule: validateRule({ id: 'pm', title: 'Failure predicted', condition: { type: 'prediction' } }), version: 2 };

/** A registry whose rules a test changes, as the API would. */
function source(rules: VersionedRule[]): RuleSource & { set(rules: VersionedRule[]): void } {
  let current = rules;
  let generation = 1;
  return {
    current: () => current,
    refresh: async () => false,
    get generation() {
      return generation;
    },
    set(next) {
      current = next;
      generation++;
    },
  };
}

describe('ruleSubset', () => {
  it('splits the rules between the telemetry and the predictions consumers, following changes', () => {
    const registry = source([hot, pm]);
    const telemetry = ruleSubset(registry, (r) => !isPredictionRule(r));
    const predictions = ruleSubset(registry, isPredictionRule);
    expect(telemetry.current()).toEqual([hot]);
    expect(predictions.current()).toEqual([pm]);
    registry.set([hot]);
    expect([telemetry.generation, predictions.generation]).toEqual([2, 2]);
    expect(predictions.current()).toEqual([]);
  });
});
