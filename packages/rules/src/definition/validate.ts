/**
 * One rule check for every origin (file, preset, API): the schema first, the condition against
 * its own type's schema (so errors name the field, not "expected one of a union"), then what a
 * schema cannot say. Every problem is reported with its JSON pointer, not just the first.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { rulesErrors } from '../errors.js';
import { MissingCondition, News2Condition, PREDICTION_DEFAULT_PROBABILITY, PredictionCondition, RateCondition, RuleSchema, ThresholdCondition, type ClearTest, type Rule } from './schema.js';

export interface RuleIssue {
  path: string;
  message: string;
}

const CONDITIONS: Readonly<Record<string, TSchema>> = {
  threshold: ThresholdCondition,
  rate: RateCondition,
  missing: MissingCondition,
  news2: News2Condition,
  prediction: PredictionCondition,
};

/** The rule without its condition: checked first, the condition then by its own type. */
const Shell = Type.Composite([Type.Omit(RuleSchema, ['condition']), Type.Object({ condition: Type.Unknown() })], { additionalProperties: false });

function schemaIssues(schema: TSchema, value: unknown, prefix = ''): RuleIssue[] {
  return [...Value.Errors(schema, value)].slice(0, 20).map((e) => ({ path: prefix + (e.path || '/'), message: e.message }));
}

/** `op`/`value`/`range` agree: `outside` takes a range [low < high], every other op a value. */
function testIssues(test: { op: string; value?: number | undefined; range?: [number, number] | undefined }, at: string): RuleIssue[] {
  if (test.op === 'outside') {
    if (!test.range) return [{ path: `${at}/range`, message: 'op "outside" needs range [low, high]' }];
    if (test.value !== undefined) return [{ path: `${at}/value`, message: 'op "outside" takes range, not value' }];
    if (!(test.range[0] < test.range[1])) return [{ path: `${at}/range`, message: 'range must be [low, high] with low < high' }];
    return [];
  }
  if (test.value === undefined) return [{ path: `${at}/value`, message: `op "${test.op}" needs a value` }];
  if (test.range !== undefined) return [{ path: `${at}/range`, message: `op "${test.op}" takes value, not range` }];
  return [];
}

function conditionIssues(condition: unknown, at: string): RuleIssue[] {
  const type = (condition as { type?: unknown } | null)?.type;
  const schema = typeof type === 'string' && Object.hasOwn(CONDITIONS, type) ? CONDITIONS[type] : undefined;
  if (!schema) return [{ path: `${at}/type`, message: `must be one of ${Object.keys(CONDITIONS).join(', ')}` }];
  const issues = schemaIssues(schema, condition, at);
  if (issues.length > 0) return issues;
  const c = condition as Rule['condition'];
  if (c.type === 'threshold') {
    issues.push(...testIssues(c, at));
    if (c.forSeconds !== undefined && c.repeat !== undefined) issues.push({ path: `${at}/repeat`, message: 'use forSeconds or repeat, not both' });
  }
  if ((c.type === 'threshold' || c.type === 'rate') && c.clear) issues.push(...testIssues(c.clear as ClearTest, `${at}/clear`));
  if (c.type === 'prediction' && c.clear && c.clear.below > (c.minProbability ?? PREDICTION_DEFAULT_PROBABILITY)) {
    issues.push({ path: `${at}/clear/below`, message: `must be at most minProbability (${c.minProbability ?? PREDICTION_DEFAULT_PROBABILITY}): an alert cannot resolve while it still fires` });
  }
  return issues;
}

/** Where a string or key holding U+0000 is (PostgreSQL cannot store it), if anywhere. */
function nulPath(value: unknown, at: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? at : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const path = `${at}/${k}`;
    if (k.includes('\u0000')) return path;
    const inner = nulPath(v, path);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

/** Every problem with `input` as a rule; empty when it is one. */
export function ruleIssues(input: unknown, channels?: ReadonlySet<string>): RuleIssue[] {
  const shell = schemaIssues(Shell, input);
  if (shell.length > 0) {
    const condition = (input as { condition?: unknown } | null)?.condition;
    return condition === undefined ? shell : [...shell, ...conditionIssues(condition, '/condition')];
  }
  const nul = nulPath(input, '');
  if (nul !== undefined) return [{ path: nul || '/', message: 'text may not contain the character U+0000' }];
  const rule = input as Rule;
  const issues = conditionIssues(rule.condition, '/condition');
  const seen = new Set<string>();
  rule.overrides?.forEach((o, i) => {
    const at = `/overrides/${i}`;
    for (const device of o.devices) {
      if (seen.has(device)) issues.push({ path: `${at}/devices`, message: `device ${device} is in more than one override` });
      seen.add(device);
    }
    if (!o.condition) return;
    for (const key of ['type', 'metric']) {
      if (key in o.condition) issues.push({ path: `${at}/condition/${key}`, message: `an override cannot change ${key}` });
    }
    issues.push(...conditionIssues({ ...rule.condition, ...o.condition }, `${at}/condition`));
  });
  if (channels) {
    const named = [...(rule.notify ?? []).map((r, i) => [r.channel, `/notify/${i}/channel`] as const), ...(rule.escalation?.channels ?? []).map((c, i) => [c, `/escalation/channels/${i}`] as const)];
    for (const [channel, path] of named) {
      if (!channels.has(channel)) issues.push({ path, message: `no notification channel ${channel} (configured: ${[...channels].join(', ') || 'none'})` });
    }
  }
  return issues;
}

/** `input` as a rule, or STRATA_ERR_RULES_INVALID (400) listing every problem in `details.issues`. */
export function validateRule(input: unknown, opts: { channels?: ReadonlySet<string>; where?: string } = {}): Rule {
  const issues = ruleIssues(input, opts.channels);
  if (issues.length === 0) return input as Rule;
  const reason = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  throw rulesErrors.STRATA_ERR_RULES_INVALID({ where: opts.where ? ` ${opts.where}` : '', reason, issues });
}
