/**
 * A failure prediction as it travels on the `predictions` topic (issue 9): a telemetry-shaped
 * event (`TelemetryEvent`) from the scoring role, so the state consumer, the rules engine and the
 * lake's delivery take it like any telemetry. One place for its names, read by the producer
 * (apps/server scoring), the lake's predictions table and the tests.
 *
 * Tags are namespaced `ml.` because the state consumer merges event tags into the device's: a
 * bare `model` would overwrite a machine's own model tag.
 */
export const PREDICTIONS_TOPIC = 'predictions';

export const PREDICTION = Object.freeze({
  /** `source` of every prediction event; the scoring role skips these when it reads telemetry. */
  source: 'scoring',
  /** Probability of a failure, [0, 1]. */
  probabilityMetric: 'failure_probability',
  /** 1 when the probability is at or above the model's threshold, else 0. */
  predictedMetric: 'failure_predicted',
  /** `name@version` of the model that scored. */
  modelTag: 'ml.model',
  /** The features that weighed most, comma-separated, largest first. */
  topTag: 'ml.top',
});
