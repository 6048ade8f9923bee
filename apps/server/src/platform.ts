import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { StrataConfig } from '@strata/config';
import { AuthDirectory, ensureAdminKey, importLegacyKeyLog, RateLimiter, Sessions } from '@strata/auth';
import { KnownDevices, lakeDevices, openDatabaseThread, platformSecret, startStateConsumer, type Db, type StateConsumer } from '@strata/db';
import { IngestService, ParsePool } from '@strata/ingest';
import { openEmbeddedStream, type Stream } from '@strata/stream';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { Lakehouse, startDelivery, startLakeScheduler, type Delivery } from '@strata/lake';
import { AlertFeed, OutboxPublisher, RuleRegistry, startNotifier, startRulesConsumer, type Notifier, type RulesConsumer } from '@strata/rules';
import { buildApp, type AppOptions } from './app.js';
import { LiveHub } from './live-hub.js';
import { createMetrics } from './metrics.js';
import { startDemo } from './demo.js';

export const TELEMETRY_TOPIC = 'telemetry';
export const ALERTS_TOPIC = 'alerts';

export interface Platform {
  /** Base URL the API listens on. */
  url: string;
  /** Set on the first start in an empty data dir only: the caller prints it once. */
  newAdminKey?: string;
  app: FastifyInstance;
  stream: Stream;
  store: ObjectStore;
  delivery: Delivery;
  /** The lakehouse, when the `lake` role runs here (`lake.enabled`). */
  lake?: Lakehouse;
  db: Db;
  state: StateConsumer;
  /** The rules role and its notifier, when `rules.enabled`. */
  rules?: { consumer: RulesConsumer; notifier: Notifier; registry: RuleRegistry };
  auth: AppOptions['auth'];
  /** Stops accepting, flushes delivery, commits, closes every engine. */
  stop(): Promise<void>;
}

/**
 * Composes the whole platform in one process on embedded engines under `config.dataDir`:
 * stream/ (the embedded stream), lake/ (the object store: raw zone and lake tables),
 * lake-staging/ (the lake jobs' scratch space), db/ (embedded PostgreSQL, unless `db.url` names a
 * server), admin.key.
 */
export async function startPlatform(config: StrataConfig, logger: Logger): Promise<Platform> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const stream = await openEmbeddedStream({
    dir: join(config.dataDir, 'stream'),
    logger: logger.child({ component: 'stream' }),
    segmentBytes: config.stream.segmentBytes,
    maxPendingBytes: config.stream.maxPendingBytes,
  });
  const closers: (() => Promise<void>)[] = [() => stream.close()];
  // Reverse order of opening; every closer runs even when one fails, so the stream always closes.
  const closeAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    while (closers.length > 0) await closers.pop()!().catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} component(s) failed to stop`);
  };
  try {
    for (const topic of [TELEMETRY_TOPIC, ALERTS_TOPIC]) {
      await stream.ensureTopic(topic, {
        partitions: config.stream.partitions,
        retentionMs: config.stream.retentionMs,
        retentionBytes: config.stream.retentionBytes,
        dedupWindowMs: config.stream.dedupWindowMs,
      });
    }
    const store = await openLocalStore({ root: join(config.dataDir, 'lake') });
    closers.push(() => store.close());
    // On a thread of its own: the embedded engine's WASM and the state consumer's decoding would
    // otherwise take the event loop from ingest (bench:ingest lost three quarters of its rate).
    const { db, applier } = await openDatabaseThread({
      ...(config.db.url ? { url: config.db.url } : { dir: join(config.dataDir, 'db') }),
      poolSize: config.db.poolSize,
      logger: logger.child({ component: 'db' }),
    });
    closers.push(() => db.close());
    const imported = await importLegacyKeyLog(db, join(config.dataDir, 'keys.jsonl'));
    if (imported > 0) logger.info({ keys: imported }, 'api keys moved from keys.jsonl into the database');
    const directory = await AuthDirectory.open({ db, logger: logger.child({ component: 'auth' }), reloadMs: 1000 });
    closers.push(async () => directory.close());
    const sessions = await Sessions.open({
      db,
      directory,
      accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
      refreshTokenTtlSeconds: config.auth.refreshTokenTtlSeconds,
    });

    // Both topics reach the lake's raw zone: telemetry, and alert events for history and analysis.
    const deliver = async (topic: string): Promise<Delivery> => {
      const d = await startDelivery({
        stream,
        store,
        topic,
        flushBytes: config.delivery.flushBytes,
        flushIntervalMs: config.delivery.flushIntervalMs,
        gzipLevel: config.delivery.gzipLevel,
        logger: logger.child({ component: 'delivery', topic }),
      });
      closers.push(() => d.stop());
      return d;
    };
    const delivery = await deliver(TELEMETRY_TOPIC);
    await deliver(ALERTS_TOPIC);
    const state = await startStateConsumer({
      db,
      applier,
      stream,
      topic: TELEMETRY_TOPIC,
      maxBatchEvents: config.state.maxBatchEvents,
      maxWaitMs: config.state.maxWaitMs,
      rollupRetentionDays: config.state.rollupRetentionDays,
      logger: logger.child({ component: 'state' }),
    });
    closers.push(() => state.stop());
    const lake = config.lake.enabled ? await startLake(config, store, db, logger.child({ component: 'lake' })) : undefined;
    if (lake) {
      closers.push(() => lake.lakehouse.close());
      closers.push(() => lake.scheduler.stop()); // first: lets a run in progress finish
    }
    const registry = await RuleRegistry.open({ db, files: config.rules.files, presets: config.rules.presets, channels: new Set(Object.keys(config.notifications.channels)), logger: logger.child({ component: 'rules' }) });
    // Alert events leave the outbox from here: the rules role's changes and the API's acknowledgements.
    const publisher = new OutboxPublisher({ db, stream, topic: ALERTS_TOPIC, logger: logger.child({ component: 'alerts' }) });
    closers.push(() => publisher.stop());
    const rules = config.rules.enabled ? await startRules(config, { db, stream, registry, publisher }, logger) : undefined;
    if (rules) {
      closers.push(() => rules.notifier.stop());
      closers.push(() => rules.consumer.stop());
    }
    const feed = new AlertFeed({ stream, topic: ALERTS_TOPIC, logger: logger.child({ component: 'alerts' }) });
    closers.push(() => feed.close());
    const known = config.devices.registration === 'known-only' ? await KnownDevices.open({ db, logger: logger.child({ component: 'devices' }) }) : undefined;
    if (known) closers.push(async () => known.close());
    const metrics = createMetrics({ stream, topics: [TELEMETRY_TOPIC, ALERTS_TOPIC], delivery, state, ...(lake && { lake: lake.lakehouse }), ...(rules && { rules: { consumer: rules.consumer, notifier: rules.notifier, publisher } }) });
    const { parseWorkers, minTimestamp, ...limits } = config.ingest;
    const pool = parseWorkers > 0
      ? new ParsePool({ workers: parseWorkers, onWorkerError: (err) => logger.error({ err }, 'parse worker failed; replaced') })
      : undefined;
    if (pool) closers.push(() => pool.close());
    const ingest = new IngestService({
      stream,
      topic: TELEMETRY_TOPIC,
      limits: { ...limits, minTimestampMs: Date.parse(minTimestamp) },
      observer: metrics.ingestObserver,
      ...(pool && { pool }),
      ...(known && { isKnownDevice: (device: string) => known.has(device) }),
    });
    const auth = {
      directory,
      sessions,
      limiter: new RateLimiter({ perSecond: config.rateLimit.perSecond, burst: config.rateLimit.burst }),
      ingestLimiter: new RateLimiter({ perSecond: config.rateLimit.ingestPerSecond, burst: config.rateLimit.ingestBurst }),
      loginAttemptsPerMinute: config.auth.loginAttemptsPerMinute,
    };
    const live = new LiveHub({ stream, topic: TELEMETRY_TOPIC, logger: logger.child({ component: 'live' }) });
    closers.push(() => live.close());
    const app = await buildApp({ auth, db, live, ...(known && { knownDevices: known }), ingest, stream, store, delivery, ...(lake && { lake: lake.lakehouse }), rollupRetentionDays: config.state.rollupRetentionDays, rules: { registry, feed, onChange: () => publisher.poke() }, metrics, bodyLimitBytes: config.http.bodyLimitBytes, logger: logger.child({ component: 'api' }) });
    closers.push(() => app.close());
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.http.port;
    const url = `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}`;
    // Only once the server is up: a start that fails earlier must not make a key nobody was shown.
    const newAdminKey = await ensureAdminKey(directory, join(config.dataDir, 'admin.key'));

    if (config.demo.enabled) {
      const demo = startDemo({ ingest, ...config.demo, logger: logger.child({ component: 'demo' }) });
      closers.push(() => demo.stop());
    }
    logger.info({ url, dataDir: config.dataDir }, 'listening');
    return { url, app, stream, store, delivery, ...(lake && { lake: lake.lakehouse }), db, state, ...(rules && { rules: { ...rules, registry } }), auth, stop: closeAll, ...(newAdminKey && { newAdminKey }) };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * The `lake` role: the lakehouse over the lake store, its jobs run on `lake.schedule`. Device
 * metadata and the pseudonymisation key come from the operational store.
 */
async function startLake(config: StrataConfig, store: ObjectStore, db: Db, logger: Logger) {
  const { enabled: _enabled, schedule, ...settings } = config.lake;
  const lakehouse = await Lakehouse.open({
    store,
    stagingDir: join(config.dataDir, 'lake-staging'),
    pseudonymKey: await platformSecret(db, 'lake_pseudonym_key'),
    devices: () => lakeDevices(db),
    topic: TELEMETRY_TOPIC,
    settings,
    logger,
  });
  try {
    return { lakehouse, scheduler: startLakeScheduler({ lake: lakehouse, schedule, logger }) };
  } catch (err) {
    await lakehouse.close();
    throw err;
  }
}

/**
 * The `rules` role: telemetry → rule engine → alerts, and the notifier sending alert events to
 * the configured channels.
 */
async function startRules(config: StrataConfig, deps: { db: Db; stream: Stream; registry: RuleRegistry; publisher: OutboxPublisher }, logger: Logger) {
  const consumer = await startRulesConsumer({
    ...deps,
    topic: TELEMETRY_TOPIC,
    snapshotMs: config.rules.snapshotMs,
    tickMs: config.rules.tickMs,
    logger: logger.child({ component: 'rules' }),
  });
  try {
    const { channels, smtp, retry } = config.notifications;
    const notifier = await startNotifier({
      db: deps.db,
      stream: deps.stream,
      topic: ALERTS_TOPIC,
      channels,
      ...(smtp && { smtp }),
      retry,
      settingsFor: (id, version) => deps.registry.settingsFor(id, version),
      logger: logger.child({ component: 'notify' }),
    });
    return { consumer, notifier };
  } catch (err) {
    await consumer.stop();
    throw err;
  }
}
