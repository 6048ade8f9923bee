/**
 * What the config schema needs from this package, without loading it (`@strata/rules/defaults`):
 * the rules role's defaults and the shipped presets. Every `strata` command parses the config.
 */
export { PRESETS } from './definition/presets.js';

export const RULES_DEFAULTS = Object.freeze({
  topic: 'telemetry',
  group: 'rules',
  maxBatchEvents: 2_000,
  maxWaitMs: 5,
  tickMs: 1_000,
  snapshotMs: 30_000,
  refreshMs: 1_000,
  directoryMs: 10_000,
  retryMinMs: 100,
  retryMaxMs: 30_000,
});

