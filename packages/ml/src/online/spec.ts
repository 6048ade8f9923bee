/**
 * Online specs of artifacts: the AI4I one, the default for artifacts without one, and the check
 * that a spec builds every input feature its schema needs.
 */
import { inputFeatures, type FeatureSchema } from '../features/schema.js';
import { onlineFeatureNames } from './features.js';
import type { OnlineSpec } from './types.js';

/**
 * AI4I 2020 on live telemetry: one-minute buckets, each input the last bucket's mean of its
 * metric, `type` (L/M/H) from the event tag or device metadata `type`.
 */
export const AI4I_ONLINE: OnlineSpec = Object.freeze({
  kind: 'latest',
  resolutionSeconds: 60,
  metrics: Object.freeze({
    airTemperatureK: 'air_temperature_k',
    processTemperatureK: 'process_temperature_k',
    rotationalSpeedRpm: 'rpm',
    torqueNm: 'torque_nm',
    toolWearMin: 'tool_wear_min',
  }),
  categories: Object.freeze({ type: 'type' }),
});

/**
 * The spec of an artifact trained without one: `latest` at 60 s, every number input read from
 * the metric of the same name, every category from the tag or metadata key of the same name.
 */
export function defaultOnlineSpec(schema: FeatureSchema): OnlineSpec {
  const metrics: Record<string, string> = {};
  const categories: Record<string, string> = {};
  for (const f of inputFeatures(schema)) (f.kind === 'number' ? metrics : categories)[f.name] = f.name;
  return { kind: 'latest', resolutionSeconds: 60, metrics, ...(Object.keys(categories).length > 0 && { categories }) };
}

/** Why a (sound) spec cannot feed this schema: an input feature it does not build, or builds as the wrong kind. */
export function onlineSchemaIssue(spec: OnlineSpec, schema: FeatureSchema): string | undefined {
  const built = new Set(onlineFeatureNames(spec));
  const categories = new Set(spec.kind === 'latest' ? Object.keys(spec.categories ?? {}) : ['model']);
  for (const f of inputFeatures(schema)) {
    if (!built.has(f.name)) return `input feature ${f.name} is not built by the ${spec.kind} spec`;
    if ((f.kind === 'category') !== categories.has(f.name)) return `input feature ${f.name} is a ${f.kind} but the spec builds a ${categories.has(f.name) ? 'category' : 'number'}`;
  }
  return undefined;
}
