/**
 * A rule, as written in a config file (YAML or JSON) or sent to `/v1/rules`. The TypeBox schema
 * is the one description: validation, the API's OpenAPI document and the types all come from it.
 * Checks JSON Schema cannot express (a range's order, an override naming a field its condition
 * type lacks) are in ./validate.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DEVICE_ID_PATTERN, DEVICE_KINDS, METRIC_NAME_PATTERN, PREDICTION } from '@strata/core';
import { SEVERITIES } from '../types.js';

export const RULE_ID_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
const Metric = Type.String({ pattern: METRIC_NAME_PATTERN.source, description: 'Metric name, as in telemetry.' });
const Seconds = Type.Number({ exclusiveMinimum: 0, maximum: 30 * 86_400 });
const SeverityT = Type.Union(SEVERITIES.map((s) => Type.Literal(s)));
const Finite = Type.Number({ minimum: -1e15, maximum: 1e15 });

const Comparison = Type.Union(['>', '>=', '<', '<='].map((op) => Type.Literal(op)));
/** `outside` holds when the value is below `range[0]` or above `range[1]`. */
const ThresholdOp = Type.Union([Comparison, Type.Literal('outside')]);
const Range = Type.Tuple([Finite, Finite], { description: '[low, high] for `outside`.' });

/** The test a value passes or fails: `op` with `value`, or `outside` with `range`. */
const Test = {
  op: ThresholdOp,
  value: Type.Optional(Finite),
  range: Type.Optional(Range),
};

const Clear = Type.Object(
  {
    ...Test,
    forSeconds: Type.Optional(Seconds),
  },
  { additionalProperties: false, description: 'When an open alert resolves (hysteresis). Default: as soon as the condition no longer holds.' },
);

const Escalate = Type.Array(
  Type.Object({ op: Comparison, value: Finite, severity: SeverityT }, { additionalProperties: false }),
  { maxItems: 8, description: 'Higher severities for worse values: the highest matching one applies; an open alert escalates to it.' },
);

const Repeat = Type.Object(
  { count: Type.Integer({ minimum: 2, maximum: 10_000 }), withinSeconds: Seconds },
  { additionalProperties: false, description: 'Fire when the condition holds on `count` events within `withinSeconds`.' },
);

export const ThresholdCondition = Type.Object(
  {
    type: Type.Literal('threshold'),
    metric: Metric,
    ...Test,
    forSeconds: Type.Optional({ ...Seconds, description: 'Fire only once the condition has held continuously this long (event time).' }),
    repeat: Type.Optional(Repeat),
    clear: Type.Optional(Clear),
    escalate: Type.Optional(Escalate),
  },
  { additionalProperties: false },
);

export const RateCondition = Type.Object(
  {
    type: Type.Literal('rate'),
    metric: Metric,
    windowSeconds: Seconds,
    op: Comparison,
    value: { ...Finite, description: 'Change of the metric over the window (newest minus oldest reading in it), in its own unit.' },
    forSeconds: Type.Optional(Seconds),
    clear: Type.Optional(Clear),
    escalate: Type.Optional(Escalate),
  },
  { additionalProperties: false },
);

export const MissingCondition = Type.Object(
  {
    type: Type.Literal('missing'),
    afterSeconds: Type.Number({ minimum: 1, maximum: 30 * 86_400 }),
    metric: Type.Optional({ ...Metric, description: 'Only events carrying this metric count as a sign of life.' }),
  },
  { additionalProperties: false, description: 'Heartbeat: no event from the device for `afterSeconds` (checked on a clock); resolves on the next event.' },
);

export const News2Condition = Type.Object(
  {
    type: Type.Literal('news2'),
    spo2Scale: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(2)], { description: 'SpO2 scale 2 for patients with hypercapnic respiratory failure. Default 1.' })),
    minLevel: Type.Optional(Type.Union(['low', 'low-medium', 'medium', 'high'].map((l) => Type.Literal(l)), { description: 'Lowest clinical response level that raises an alert. Default low.' })),
    maxAgeSeconds: Type.Optional({ ...Seconds, description: 'Readings older than this (event time) no longer count. Default 900.' }),
  },
  { additionalProperties: false, description: 'NEWS2 score from the latest reading of each parameter; severity from the clinical response level.' },
);

/** The metric the scoring role's prediction events carry (topic `predictions`, docs/ml.md). */
export const PREDICTION_METRIC = PREDICTION.probabilityMetric;
/** A prediction rule's `minProbability` when it names none. */
export const PREDICTION_DEFAULT_PROBABILITY = 0.5;
const Probability = Type.Number({ minimum: 0, maximum: 1 });

export const PredictionCondition = Type.Object(
  {
    type: Type.Literal('prediction'),
    minProbability: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Fire when the predicted failure probability is at or above this. Default 0.5.' })),
    forSeconds: Type.Optional({ ...Seconds, description: 'Fire only once the probability has stayed at or above the limit this long (event time).' }),
    clear: Type.Optional(
      Type.Object(
        {
          below: { ...Probability, description: 'Resolve once the probability is below this (at most minProbability). Default: minProbability.' },
          forSeconds: Type.Optional(Seconds),
        },
        { additionalProperties: false, description: 'When an open alert resolves (hysteresis).' },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: `Predictive maintenance: the failure probability the scoring role publishes for a machine (metric ${PREDICTION_METRIC} on topic predictions) reaches a limit. Severity defaults to high.`,
  },
);

export const Condition = Type.Union([ThresholdCondition, RateCondition, MissingCondition, News2Condition, PredictionCondition]);

const Scope = Type.Object(
  {
    kinds: Type.Optional(Type.Array(Type.Union(DEVICE_KINDS.map((k) => Type.Literal(k))), { minItems: 1, uniqueItems: true })),
    tags: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ maxLength: 256 }), { description: 'Every tag must match the device\'s.' })),
    devices: Type.Optional(Type.Array(Type.String({ pattern: DEVICE_ID_PATTERN.source }), { minItems: 1, maxItems: 100_000, uniqueItems: true })),
  },
  { additionalProperties: false, description: 'Which devices the rule watches: all of the given tests must pass. Empty: every device.' },
);

const Override = Type.Object(
  {
    devices: Type.Array(Type.String({ pattern: DEVICE_ID_PATTERN.source }), { minItems: 1, maxItems: 10_000, uniqueItems: true }),
    enabled: Type.Optional(Type.Boolean()),
    severity: Type.Optional(SeverityT),
    condition: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Fields replacing the condition\'s for these devices (not `type` or `metric`).' })),
  },
  { additionalProperties: false },
);

const Route = Type.Object(
  { channel: Type.String({ minLength: 1, maxLength: 64 }), minSeverity: Type.Optional(SeverityT) },
  { additionalProperties: false },
);

export const RuleSchema = Type.Object(
  {
    id: Type.String({ pattern: RULE_ID_PATTERN }),
    title: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    enabled: Type.Optional(Type.Boolean({ description: 'Default true.' })),
    severity: Type.Optional({ ...SeverityT, description: 'Severity of the alert raised (NEWS2 rules derive theirs from the level). Default medium; high for prediction rules.' }),
    scope: Type.Optional(Scope),
    condition: Condition,
    autoResolve: Type.Optional(Type.Boolean({ description: 'Resolve the alert when the clear condition holds. Default true; false leaves it to a person.' })),
    overrides: Type.Optional(Type.Array(Override, { maxItems: 100 })),
    notify: Type.Optional(Type.Array(Route, { maxItems: 16 })),
    escalation: Type.Optional(
      Type.Object(
        { afterSeconds: Seconds, channels: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 16 }) },
        { additionalProperties: false, description: 'A critical alert unacknowledged this long is also sent to these channels.' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type Rule = Static<typeof RuleSchema>;
export type RuleCondition = Static<typeof Condition>;
export type ThresholdRule = Static<typeof ThresholdCondition>;
export type RateRule = Static<typeof RateCondition>;
export type News2Rule = Static<typeof News2Condition>;
export type PredictionRule = Static<typeof PredictionCondition>;
export type ClearTest = Static<typeof Clear>;
export type EscalateLevel = Static<typeof Escalate>[number];
