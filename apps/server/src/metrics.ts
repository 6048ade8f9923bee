import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IngestObserver, MqttIngestObserver } from '@strata/ingest';
import type { Stream } from '@strata/stream';
import type { Delivery, Lakehouse } from '@strata/lake';
import type { Notifier, OutboxPublisher, RulesConsumer } from '@strata/rules';
import type { StateConsumer } from '@strata/db';
import type { ScoringRole } from './scoring/scoring.js';

/** Why an ingest request was refused; bounded, so it can be a label. */
export type IngestRejectReason = 'invalid' | 'too_large' | 'media_type' | 'unauthorized' | 'forbidden' | 'forbidden_device' | 'unknown_device' | 'rate_limited' | 'unavailable';

export interface Metrics {
  registry: Registry;
  ingestObserver: IngestObserver;
  ingestRejected(reason: IngestRejectReason): void;
  /** MQTT messages (the broker's and the bridge's), accepted or refused by reason. */
  mqttObserver: MqttIngestObserver;
  httpRequest(route: string, method: string, status: number): void;
}

/**
 * Prometheus metrics, `strata_<component>_<name>_<unit>`. Labels are bounded: route templates,
 * status codes, reasons, consumer groups; never a device id. One registry per app instance so
 * tests can build many.
 */
export function createMetrics(deps: { stream: Stream; topics: string[]; delivery?: Delivery; state?: StateConsumer; lake?: Lakehouse; rules?: { consumer: RulesConsumer; notifier: Notifier; publisher: OutboxPublisher }; scoring?: ScoringRole }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'strata_' });
  // prom-client names these gauges `_total`, which promtool rejects as counter-like: drop them.
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
    registry.removeSingleMetric(`strata_nodejs_${name}`);
  }

  const events = new Counter({ name: 'strata_ingest_events_total', help: 'Events accepted (durable in the stream).', registers: [registry] });
  const bytes = new Counter({ name: 'strata_ingest_bytes_total', help: 'Bytes of accepted events as stored.', registers: [registry] });
  const duplicates = new Counter({ name: 'strata_ingest_duplicates_total', help: 'Events skipped because their client id was already in the stream.', registers: [registry] });
  const rejected = new Counter({ name: 'strata_ingest_rejected_total', help: 'Ingest requests refused, by reason.', labelNames: ['reason'], registers: [registry] });
  const mqttMessages = new Counter({ name: 'strata_mqtt_messages_total', help: 'MQTT messages taken in (durable before their PUBACK), or refused, by result and reason.', labelNames: ['result', 'reason'], registers: [registry] });
  const requests = new Counter({ name: 'strata_ingest_requests_total', help: 'Ingest requests (and demo batches) answered, accepted or refused.', labelNames: ['result'], registers: [registry] });
  const appendSeconds = new Histogram({
    name: 'strata_stream_append_duration_seconds',
    help: 'Time from append call to durable (fsync) acknowledgement.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const httpChildren = new Map<string, { inc(): void }>();
  const httpRequests = new Counter({ name: 'strata_http_requests_total', help: 'HTTP requests answered.', labelNames: ['route', 'method', 'status'], registers: [registry] });

  new Gauge({
    name: 'strata_stream_consumer_lag_records',
    help: 'Records appended but not yet committed by a consumer group.',
    labelNames: ['topic', 'group'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const topic of deps.topics) {
        for (const g of await deps.stream.lag(topic)) {
          this.set({ topic, group: g.group }, g.partitions.reduce((sum, p) => sum + p.lag, 0));
        }
      }
    },
  });

  /** Counters that read their values from a component's stats at scrape time. */
  const countersOf = <S>(stats: () => S) => (name: string, help: string, read: (s: S) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(stats()));
      },
    });
  };

  const delivery = deps.delivery;
  if (delivery) {
    const fromStats = countersOf(() => delivery.stats());
    fromStats('strata_delivery_flushes_total', 'Flushes of buffered records to the raw zone.', (s) => s.flushes);
    fromStats('strata_delivery_objects_total', 'Objects written to the raw zone.', (s) => s.objects);
    fromStats('strata_delivery_records_total', 'Records delivered to the raw zone.', (s) => s.records);
    fromStats('strata_delivery_bytes_total', 'Uncompressed bytes delivered to the raw zone.', (s) => s.bytesIn);
    fromStats('strata_delivery_written_bytes_total', 'Compressed bytes written to the raw zone.', (s) => s.bytesOut);
    fromStats('strata_delivery_error_records_total', 'Records routed to errors/ instead of raw/.', (s) => s.errorRecords);
  }

  const state = deps.state;
  if (state) {
    const fromStats = countersOf(() => state.stats());
    fromStats('strata_state_batches_total', 'Coalesced batches written to the operational store.', (s) => s.batches);
    fromStats('strata_state_events_total', 'Events applied to devices, latest values and rollups.', (s) => s.events);
    fromStats('strata_state_invalid_records_total', 'Stream records skipped because they are not telemetry events.', (s) => s.invalid);
    fromStats('strata_state_too_old_events_total', 'Events older than the rollup retention (no rollup written).', (s) => s.tooOld);
    new Gauge({
      name: 'strata_state_retrying',
      help: '1 while the operational store cannot be written and the state consumer retries.',
      registers: [registry],
      collect() {
        this.set(state.stats().retrying ? 1 : 0);
      },
    });
  }

  const lake = deps.lake;
  if (lake) {
    const fromStats = countersOf(() => lake.stats());
    fromStats('strata_lake_runs_total', 'Lake job runs started (scheduled or by hand).', (s) => s.runs);
    fromStats('strata_lake_failed_runs_total', 'Lake job runs that failed (retried at the next tick).', (s) => s.failedRuns);
    fromStats('strata_lake_bronze_rows_total', 'Rows written to bronze.', (s) => s.rowsWritten.bronze);
    fromStats('strata_lake_silver_rows_total', 'Rows written to silver.', (s) => s.rowsWritten.silver);
    fromStats('strata_lake_gold_rows_total', 'Rows written to the gold tables.', (s) => s.rowsWritten.gold);
    fromStats('strata_lake_quarantined_rows_total', 'Rows sent to quarantine/ by bronze.', (s) => s.quarantined);
    fromStats('strata_lake_duplicate_events_total', 'Events bronze dropped as duplicates of an event it holds.', (s) => s.duplicates);
    new Gauge({
      name: 'strata_lake_last_success_timestamp_seconds',
      help: 'When the last lake run succeeded (Unix seconds; 0 before the first).',
      registers: [registry],
      collect() {
        this.set((lake.stats().lastSuccessAt ?? 0) / 1000);
      },
    });
  }

  const rules = deps.rules;
  if (rules) {
    const fromRules = countersOf(() => rules.consumer.stats());
    fromRules('strata_rules_events_total', 'Telemetry events evaluated against the rules.', (s) => s.events);
    fromRules('strata_rules_invalid_records_total', 'Stream records the rules skipped as not telemetry events.', (s) => s.invalid);
    fromRules('strata_rules_alert_events_total', 'Alert changes written (opened, repeated, escalated, resolved by rule).', (s) => s.alertEvents);
    fromRules('strata_rules_snapshots_total', 'Rule state snapshots written.', (s) => s.snapshots);
    const fromNotifier = countersOf(() => rules.notifier.stats());
    fromNotifier('strata_notify_delivered_total', 'Notifications delivered (webhook 2xx, e-mail accepted by the SMTP server).', (s) => s.delivered);
    fromNotifier('strata_notify_failed_attempts_total', 'Notification attempts that failed (retried with backoff).', (s) => s.failedAttempts);
    fromNotifier('strata_notify_dead_total', 'Notifications given up after the last attempt (dead letters).', (s) => s.dead);
    countersOf(() => rules.publisher)('strata_alerts_published_total', 'Alert events appended to the alerts topic.', (p) => p.published);
    new Gauge({
      name: 'strata_notify_pending',
      help: 'Notifications waiting to be sent (due or scheduled).',
      registers: [registry],
      collect() {
        this.set(rules.notifier.stats().queued);
      },
    });
  }

  const scoring = deps.scoring;
  if (scoring) {
    const fromStats = countersOf(() => scoring.stats());
    fromStats('strata_ml_scored_events_total', 'Telemetry events scored by the active model.', (s) => s.events);
    fromStats('strata_ml_predictions_total', 'Predictions appended to the predictions topic (one per machine and closed bucket).', (s) => s.predictions);
    fromStats('strata_ml_predicted_failures_total', 'Predictions at or above the model threshold (failure_predicted = 1).', (s) => s.predictedFailures);
    fromStats('strata_ml_invalid_records_total', 'Telemetry records scoring skipped as not events, or the scorer refused.', (s) => s.invalid);
    fromStats('strata_ml_ignored_records_total', 'Telemetry records scoring ignored: replayed history, its own output, devices that are not machines.', (s) => s.ignored);
    fromStats('strata_ml_evicted_devices_total', 'Machines the scorer forgot: partition taken by another member, or idle longer than the warm-up.', (s) => s.evicted);
    new Counter({
      name: 'strata_ml_skipped_rows_total',
      help: 'Closed buckets not scored because their feature row could not be built, by reason (the missing feature, warm-up, …; bounded by the model schema).',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(scoring.stats().skippedBy)) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'strata_ml_scorer_devices',
      help: 'Machines the scorer holds state for (this member).',
      registers: [registry],
      collect() {
        this.set(scoring.stats().devices);
      },
    });
    new Gauge({
      name: 'strata_ml_scoring_lag_records',
      help: 'Telemetry records not yet scored (refreshed every ml.refreshSeconds).',
      registers: [registry],
      collect() {
        this.set(scoring.stats().lagRecords);
      },
    });
    new Gauge({
      name: 'strata_ml_feature_psi',
      help: 'Population stability index of each model input between its training reference and the last ml.driftWindow scored rows (> 0.2: drift).',
      labelNames: ['model', 'feature'],
      registers: [registry],
      collect() {
        this.reset();
        const s = scoring.stats();
        const model = s.model?.split('@')[0];
        if (model === undefined) return;
        for (const [feature, psi] of Object.entries(s.drift)) this.set({ model, feature }, psi);
      },
    });
    new Gauge({
      name: 'strata_ml_drift_alert_open',
      help: '1 while the ml-drift alert of the scoring model is open.',
      registers: [registry],
      collect() {
        this.set(scoring.stats().driftAlertOpen ? 1 : 0);
      },
    });
  }

  return {
    registry,
    ingestObserver: {
      accepted(n, b, dup, seconds) {
        requests.inc({ result: 'accepted' });
        events.inc(n);
        bytes.inc(b);
        if (dup) duplicates.inc(dup);
        appendSeconds.observe(seconds);
      },
    },
    ingestRejected(reason) {
      requests.inc({ result: 'rejected' });
      rejected.inc({ reason });
    },
    mqttObserver: {
      accepted() {
        mqttMessages.inc({ result: 'accepted', reason: '' });
      },
      rejected(reason) {
        mqttMessages.inc({ result: 'rejected', reason });
      },
    },
    httpRequest(route, method, status) {
      // One labelled child per (route, method, status), kept: labels are hashed once, not per request.
      const key = `${route} ${method} ${status}`;
      let child = httpChildren.get(key);
      if (!child) {
        child = httpRequests.labels(route, method, String(status));
        httpChildren.set(key, child);
      }
      child.inc();
    },
  };
}
