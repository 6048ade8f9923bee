import { api, qs } from '../api/client';
import type { LatestPrediction, LatestValue, Prediction } from '../api/types';
import { useLoad } from '../hooks';
import { Time } from './time';

/**
 * The metric the scoring role publishes (topic `predictions`, kept as a latest value and rollups).
 * @strata/core's `PREDICTION` names them; the dashboard imports no workspace package (its API
 * types are its own, ../api/types.ts), so they are repeated here.
 */
export const PROBABILITY_METRIC = 'failure_probability';
export const PREDICTED_METRIC = 'failure_predicted';

/** A device's latest prediction from its latest values (`GET /v1/devices/:id/latest`), if it has one. */
export function predictionOf(device: string, values: readonly LatestValue[]): LatestPrediction | undefined {
  const p = values.find((v) => v.metric === PROBABILITY_METRIC);
  if (!p) return undefined;
  const flag = values.find((v) => v.metric === PREDICTED_METRIC);
  return { device, ts: p.ts, probability: p.value, predicted: flag ? flag.value === 1 : null, eventId: p.eventId };
}

export function percent(p: number): string {
  return `${Math.round(p * 100)}%`;
}

/** "failure predicted" as text and an icon: colour is never the only signal. */
export function FailureBadge() {
  return (
    <span className="sev sev-critical">
      <span aria-hidden="true">▲</span> failure predicted
    </span>
  );
}

/** A machine's latest failure probability, with the badge when the model predicts a failure; "no model" without one. */
export function ProbabilityText({ prediction, testId }: { prediction: LatestPrediction | undefined; testId?: string }) {
  if (!prediction) return <span className="muted" data-testid={testId}>no model</span>;
  return (
    <span data-testid={testId}>
      failure risk {percent(prediction.probability)}
      {prediction.predicted && <> <FailureBadge /></>}
    </span>
  );
}

/** How often the lake's latest prediction (model, top features) is read again: its jobs run every few minutes, so not per event. */
export const LAKE_PREDICTION_REFRESH_MS = 60_000;

/**
 * The latest prediction of a device: probability and flag (latest values, real time), and the
 * model and top features of the latest prediction the lake holds (minutes behind: the lake's
 * jobs run on a schedule; read again every `LAKE_PREDICTION_REFRESH_MS`, not on every new event).
 */
export function PredictionFacts({ device, latest, level = 2 }: { device: string; latest: LatestPrediction; level?: 2 | 3 }) {
  const Heading = level === 2 ? 'h2' : 'h3';
  const fromLake = useLoad(
    (signal) => api<{ predictions: Prediction[] }>(`/v1/predictions${qs({ device, limit: 1 })}`, { signal }).then((r) => r.predictions[0]),
    [device],
    LAKE_PREDICTION_REFRESH_MS,
  );
  const p = fromLake.data;
  return (
    <section className="panel" aria-labelledby={`prediction-${device}`}>
      <Heading id={`prediction-${device}`}>Failure prediction</Heading>
      <dl className="facts">
        <dt>Probability</dt><dd data-testid="prediction-probability">{percent(latest.probability)}{latest.predicted && <> <FailureBadge /></>}</dd>
        <dt>At</dt><dd><Time iso={latest.ts} /></dd>
        <dt>Model</dt><dd>{p?.model ?? '—'}</dd>
        <dt>Top features</dt><dd>{p && p.topFeatures.length > 0 ? p.topFeatures.join(', ') : '—'}</dd>
      </dl>
      {!p && !fromLake.loading && <p className="muted">Model and top features appear once the lake holds this machine&apos;s predictions (its jobs run every few minutes).</p>}
      {p && p.eventId !== latest.eventId && <p className="muted">Model and top features of the prediction of <Time iso={p.ts} />, the latest in the lake.</p>}
    </section>
  );
}
