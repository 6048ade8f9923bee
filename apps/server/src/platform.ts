import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Role, StrataConfig } from '@strata/config';
import { PREDICTIONS_TOPIC } from '@strata/core';
import { allows, AuthDirectory, ensureAdminKey, importLegacyKeyLog, RateLimiter, Sessions } from '@strata/auth';
import { KnownDevices, lakeDevices, openDatabaseThread, platformSecret, startStateConsumer, type Db, type StateConsumer } from '@strata/db';
import { IngestService, ParsePool, startMqttBridge, startMqttBroker, type MqttAuthenticate } from '@strata/ingest';
import { openEmbeddedStream, type Stream } from '@strata/stream';
import { openLocalStore, type ObjectStore } from '@strata/storage';
import { Lakehouse, startDelivery, startLakeScheduler, type Delivery } from '@strata/lake';
import { AlertFeed, isPredictionRule, OutboxPublisher, RuleRegistry, ruleSubset, startNotifier, startRulesConsumer, type Notifier, type RulesConsumer } from '@strata/rules';
import { buildApp, type AppOptions } from './app.js';
import { startLakeErasure } from './lake-erasure.js';
import { createBackup, openTarget, pruneBackups, s3TargetOptions, startBackupScheduler } from '@strata/backup';
import { erasedDeviceIds, loadRecordKeys, resolveMasterKey, type RecordsDb } from '@strata/records';
import { ModelRegistry, type MlDb } from '@strata/ml';
import { LiveHub } from './live-hub.js';
import { createMetrics, type Metrics } from './metrics.js';
import { startDemo } from './demo.js';
import { startScoringRole } from './scoring/role.js';
import type { ScoringRole } from './scoring/scoring.js';
import { DASHBOARD_DIST } from './web.js';

export const TELEMETRY_TOPIC = 'telemetry';
export const ALERTS_TOPIC = 'alerts';
/** Cloud posture findings (OCSF Compliance Finding events) from scans run through the API. */
export const FINDINGS_TOPIC = 'findings';
/** The resource inventory of each scan (OCSF Cloud Resources Inventory Info events). */
export const INVENTORY_TOPIC = 'inventory';
/** Failure predictions of the scoring role: telemetry-shaped events, keyed by device (names: @strata/core `PREDICTION`; docs/ml.md). */
export { PREDICTIONS_TOPIC };
/** Every topic the platform creates: what a backup records the consumer positions of. */
export const PLATFORM_TOPICS: readonly string[] = [TELEMETRY_TOPIC, ALERTS_TOPIC, FINDINGS_TOPIC, INVENTORY_TOPIC, PREDICTIONS_TOPIC];

export interface Platform {
  /** Base URL the HTTP server listens on (every process has one: /health, /ready, /metrics). */
  url: string;
  /** Set on the first start in an empty data dir only: the caller prints it once. */
  newAdminKey?: string;
  app: FastifyInstance;
  stream: Stream;
  store: ObjectStore;
  db: Db;
  /** The raw-zone delivery of telemetry, when the `delivery` role runs here. */
  delivery?: Delivery;
  /** The state consumer, when the `state` role runs here. */
  state?: StateConsumer;
  /** The lakehouse, when the `lake` role runs here (and `lake.enabled`). */
  lake?: Lakehouse;
  /** The state consumer of the predictions topic (failure probabilities as latest values and rollups), with the `state` role. */
  predictionsState?: StateConsumer;
  /** The rules role and its notifier, when the `rules` role runs here (and `rules.enabled`): `consumer` on telemetry, `predictions` on the predictions topic (prediction rules only). */
  rules?: { consumer: RulesConsumer; predictions: RulesConsumer; notifier: Notifier; registry: RuleRegistry };
  /** The scoring role, when it runs here (and `ml.enabled`). */
  scoring?: ScoringRole;
  /** The MQTT broker's port, when the `ingest` role runs it here (`mqtt.enabled`). */
  mqttPort?: number;
  auth: AppOptions['auth'];
  /** Stops accepting, flushes delivery, commits, closes every engine. */
  stop(): Promise<void>;
}

/**
 * Composes the roles `config.roles` names in one process (all of them by default, on embedded
 * engines under `config.dataDir`: stream/, lake/, lake-staging/, db/, admin.key). Roles meet only
 * through the stream, the object store and the database, so the same code split over processes
 * runs a deployment on NATS, S3 and PostgreSQL.
 */
export interface PlatformOptions {
  /** This process's index among ingest processes sharing ports (`ingest.processes`): names its MQTT bridge session. */
  member?: number;
}

export async function startPlatform(config: StrataConfig, logger: Logger, opts: PlatformOptions = {}): Promise<Platform> {
  const has = (role: Role): boolean => config.roles.includes(role);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const closers: (() => Promise<void>)[] = [];
  // Reverse order of opening; every closer runs even when one fails, so the stream always closes.
  const closeAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    while (closers.length > 0) await closers.pop()!().catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} component(s) failed to stop`);
  };
  try {
    const stream = await openStreamEngine(config, logger.child({ component: 'stream' }));
    closers.push(() => stream.close());
    for (const topic of PLATFORM_TOPICS) {
      await stream.ensureTopic(topic, {
        partitions: config.stream.partitions,
        retentionMs: config.stream.retentionMs,
        retentionBytes: config.stream.retentionBytes,
        dedupWindowMs: config.stream.dedupWindowMs,
      });
    }
    const store = await openStoreEngine(config, logger.child({ component: 'storage' }));
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

    // Every topic reaches the lake's raw zone: telemetry, alert events, scan findings, inventory and predictions, for history and analysis.
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
    let delivery: Delivery | undefined;
    if (has('delivery')) {
      delivery = await deliver(TELEMETRY_TOPIC);
      await deliver(ALERTS_TOPIC);
      await deliver(FINDINGS_TOPIC);
      await deliver(INVENTORY_TOPIC);
      await deliver(PREDICTIONS_TOPIC);
    }
    let state: StateConsumer | undefined;
    if (has('state')) {
      state = await startStateConsumer({
        db,
        applier,
        stream,
        topic: TELEMETRY_TOPIC,
        maxBatchEvents: config.state.maxBatchEvents,
        maxWaitMs: config.state.maxWaitMs,
        rollupRetentionDays: config.state.rollupRetentionDays,
        logger: logger.child({ component: 'state' }),
      });
      const started = state;
      closers.push(() => started.stop());
    }
    // Predictions are telemetry-shaped: failure_probability becomes a latest value and rollups of the machine.
    const predictionsState = has('state')
      ? await startStateConsumer({
          db,
          applier,
          stream,
          topic: PREDICTIONS_TOPIC,
          group: 'state-predictions',
          maxBatchEvents: config.state.maxBatchEvents,
          maxWaitMs: config.state.maxWaitMs,
          rollupRetentionDays: config.state.rollupRetentionDays,
          logger: logger.child({ component: 'state', topic: PREDICTIONS_TOPIC }),
        })
      : undefined;
    if (predictionsState) closers.push(() => predictionsState.stop());
    // The API queries the lake too: without the lake role here, it opens the lake for queries only.
    const lake = config.lake.enabled && (has('lake') || has('api')) ? await startLake(config, { store, db, jobs: has('lake') }, logger.child({ component: 'lake' })) : undefined;
    if (lake) {
      closers.push(() => lake.lakehouse.close());
      if (lake.scheduler) closers.push(() => lake.scheduler!.stop()); // first: lets a run in progress finish
    }
    const lakeErasure = lake?.scheduler ? startLakeErasure({ db, lake: lake.lakehouse, logger: logger.child({ component: 'erasure' }) }) : undefined;
    if (lakeErasure) closers.push(() => lakeErasure.stop());
    if (lake?.scheduler && config.backup.enabled) await startBackups(config, { db, store, stream }, logger.child({ component: 'backup' }), closers);
    const alerting = has('rules') || has('api');
    const registry = alerting
      ? await RuleRegistry.open({ db, files: config.rules.files, presets: config.rules.presets, channels: new Set(Object.keys(config.notifications.channels)), logger: logger.child({ component: 'rules' }) })
      : undefined;
    const scoringOn = has('scoring') && config.ml.enabled;
    // Alert events leave the outbox from here: the rules role's changes, the scoring role's drift alerts and the API's acknowledgements.
    const publisher = alerting || scoringOn ? new OutboxPublisher({ db, stream, topic: ALERTS_TOPIC, logger: logger.child({ component: 'alerts' }) }) : undefined;
    if (publisher) closers.push(() => publisher.stop());
    const rules = registry && publisher && has('rules') && config.rules.enabled ? await startRules(config, { db, stream, registry, publisher }, logger) : undefined;
    if (rules) {
      closers.push(() => rules.notifier.stop());
      closers.push(() => rules.consumer.stop());
      closers.push(() => rules.predictions.stop());
    }
    const scoring = scoringOn ? await startScoringRole(config, { db, stream, store, topic: TELEMETRY_TOPIC, predictionsTopic: PREDICTIONS_TOPIC, ...(publisher && { publisher }) }, logger.child({ component: 'scoring' })) : undefined;
    if (scoring) closers.push(() => scoring.stop());
    const feed = has('api') ? new AlertFeed({ stream, topic: ALERTS_TOPIC, logger: logger.child({ component: 'alerts' }) }) : undefined;
    if (feed) closers.push(() => feed.close());
    const known = has('ingest') && config.devices.registration === 'known-only' ? await KnownDevices.open({ db, logger: logger.child({ component: 'devices' }) }) : undefined;
    if (known) closers.push(async () => known.close());
    const metrics = createMetrics({
      stream,
      topics: [TELEMETRY_TOPIC, ALERTS_TOPIC, PREDICTIONS_TOPIC],
      ...(delivery && { delivery }),
      ...(state && { state }),
      ...(lake?.scheduler && { lake: lake.lakehouse }),
      ...(rules && publisher && { rules: { consumer: rules.consumer, notifier: rules.notifier, publisher } }),
      ...(scoring && { scoring }),
    });
    const ingest = has('ingest') ? startIngest(config, { stream, metrics, ...(known && { known }) }, logger, closers) : undefined;
    const auth = {
      directory,
      sessions,
      limiter: new RateLimiter({ perSecond: config.rateLimit.perSecond, burst: config.rateLimit.burst }),
      ingestLimiter: new RateLimiter({ perSecond: config.rateLimit.ingestPerSecond, burst: config.rateLimit.ingestBurst }),
      loginAttemptsPerMinute: config.auth.loginAttemptsPerMinute,
    };
    // Patient records: their data keys open with the master key (config/env, else DATA/master.key).
    const records = has('api')
      ? {
          keys: await loadRecordKeys(db.kysely as unknown as RecordsDb, resolveMasterKey({ configured: config.records.masterKey, dataDir: config.dataDir, create: true })),
          anonymityK: config.records.anonymityK,
          importBatchSize: config.records.importBatchSize,
          // Delivery's buffer may still hold the devices' latest events: into the raw zone first, then erased with the rest.
          ...(lakeErasure && { eraseLake: async (ids: string[]) => (await delivery?.flush(), lakeErasure.erase(ids)) }),
        }
      : undefined;
    // The model registry behind /v1/predict and /v1/ml/models: artifacts in the object store, rows in the database.
    const ml = has('api') ? { registry: new ModelRegistry({ db: db.kysely as unknown as MlDb, store }), defaultModel: config.ml.model } : undefined;
    const live = has('api') ? new LiveHub({ stream, topic: TELEMETRY_TOPIC, logger: logger.child({ component: 'live' }) }) : undefined;
    if (live) closers.push(() => live.close());
    const app = await buildApp({
      auth,
      db,
      stream,
      store,
      metrics,
      ...(ingest && { ingest }),
      api: has('api'),
      // Ingest works on while the object store or the database is down (keys are cached): a load
      // balancer must not take it out for them.
      readiness: { store: has('delivery') || has('lake') || has('api') || has('scoring'), db: has('state') || has('rules') || has('scoring') || has('lake') || has('api') },
      ...(live && { live }),
      ...(known && { knownDevices: known }),
      ...(delivery && { delivery }),
      ...(lake && { lake: lake.lakehouse }),
      ...(registry && feed && { rules: { registry, feed, onChange: () => publisher?.poke() } }),
      ...(records && { records }),
      ...(ml && { ml }),
      rollupRetentionDays: config.state.rollupRetentionDays,
      ...(has('web') && { web: { root: DASHBOARD_DIST } }),
      bodyLimitBytes: config.http.bodyLimitBytes,
      logger: logger.child({ component: 'api' }),
    });
    closers.push(() => app.close());
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.http.port;
    const url = `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}`;
    const mqttPort = ingest && config.mqtt.enabled ? await startMqtt(config, { ingest, directory, metrics, member: opts.member ?? 0 }, logger.child({ component: 'mqtt' }), closers) : undefined;
    // Only once the server is up: a start that fails earlier must not make a key nobody was shown.
    // The API's process makes it: the one an operator signs in to.
    const newAdminKey = has('api') ? await ensureAdminKey(directory, join(config.dataDir, 'admin.key')) : undefined;

    if (ingest && config.demo.enabled) {
      const demo = startDemo({ ingest, ...config.demo, logger: logger.child({ component: 'demo' }) });
      closers.push(() => demo.stop());
    }
    logger.info({ url, roles: config.roles, dataDir: config.dataDir, ...(mqttPort !== undefined && { mqttPort }) }, 'listening');
    return {
      url,
      app,
      stream,
      store,
      db,
      auth,
      stop: closeAll,
      ...(delivery && { delivery }),
      ...(state && { state }),
      ...(predictionsState && { predictionsState }),
      ...(lake?.scheduler && { lake: lake.lakehouse }),
      ...(rules && registry && { rules: { ...rules, registry } }),
      ...(scoring && { scoring }),
      ...(mqttPort !== undefined && { mqttPort }),
      ...(newAdminKey && { newAdminKey }),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** The stream engine the config names; environments sharing a NATS server get their own streams. */
async function openStreamEngine(config: StrataConfig, logger: Logger): Promise<Stream> {
  if (config.stream.engine === 'nats') {
    const { openNatsStream } = await import('@strata/stream/nats'); // loaded only when used
    const { servers, replicas, user, password } = config.stream.nats;
    return openNatsStream({
      servers,
      replicas,
      prefix: config.environment ? `strata_${config.environment}_` : 'strata_',
      ...(user !== undefined && { user }),
      ...(password !== undefined && { pass: password }),
      logger,
    });
  }
  return openEmbeddedStream({
    dir: join(config.dataDir, 'stream'),
    logger,
    segmentBytes: config.stream.segmentBytes,
    maxPendingBytes: config.stream.maxPendingBytes,
  });
}

/** The object store the config names: the bucket name carries the environment (seed 002's suffix). */
async function openStoreEngine(config: StrataConfig, logger: Logger): Promise<ObjectStore> {
  const s3 = config.storage.s3;
  if (config.storage.engine === 's3' && s3) {
    const { openS3Store } = await import('@strata/storage/s3'); // loaded only when used
    return openS3Store({
      bucket: config.environment ? `${s3.bucket}-${config.environment}` : s3.bucket,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      createBucket: s3.createBucket,
      ...(s3.prefix !== undefined && { prefix: s3.prefix }),
      ...(s3.endpoint !== undefined && { endpoint: s3.endpoint }),
      ...(s3.accessKeyId !== undefined && s3.secretAccessKey !== undefined && { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }),
      logger,
    });
  }
  return openLocalStore({ root: join(config.dataDir, 'lake') });
}

/** The `ingest` role's service: what HTTP, MQTT and the demo devices write through. */
function startIngest(config: StrataConfig, deps: { stream: Stream; metrics: Metrics; known?: KnownDevices }, logger: Logger, closers: (() => Promise<void>)[]): IngestService {
  const { parseWorkers, minTimestamp, processes: _processes, ...limits } = config.ingest;
  const pool = parseWorkers > 0
    ? new ParsePool({ workers: parseWorkers, onWorkerError: (err) => logger.error({ err }, 'parse worker failed; replaced') })
    : undefined;
  if (pool) closers.push(() => pool.close());
  const known = deps.known;
  return new IngestService({
    stream: deps.stream,
    topic: TELEMETRY_TOPIC,
    limits: { ...limits, minTimestampMs: Date.parse(minTimestamp) },
    observer: deps.metrics.ingestObserver,
    ...(pool && { pool }),
    ...(known && { isKnownDevice: (device: string) => known.has(device) }),
  });
}

/**
 * The MQTT side of the ingest role: the embedded broker (devices sign in with their device id
 * and a key allowed to write for it) and, when configured, the bridge from an external broker.
 * Returns the broker's port.
 */
async function startMqtt(config: StrataConfig, deps: { ingest: IngestService; directory: AuthDirectory; metrics: Metrics; member: number }, logger: Logger, closers: (() => Promise<void>)[]): Promise<number> {
  const member = deps.member;
  const authenticate: MqttAuthenticate = (username, password) => {
    const caller = password && deps.directory.verifyKey(password.toString('utf8'));
    // Device keys sign in their own device; an unbound ingest key (a gateway's) any device. Admin
    // keys never: they are for operators, and a device's password can leak from the device.
    if (!caller || caller.kind !== 'key' || caller.scopes.includes('admin') || !allows(caller, 'ingest')) return undefined;
    if (caller.device !== undefined && caller.device !== username) return undefined;
    // Revoking or expiring the key closes the connection (within the directory's reload, 1 s).
    return { device: username, stillValid: () => deps.directory.keyCaller(caller.id) !== undefined };
  };
  const observer = deps.metrics.mqttObserver;
  const broker = await startMqttBroker({
    ingest: deps.ingest,
    authenticate,
    host: config.mqtt.host,
    port: config.mqtt.port,
    ...(config.mqtt.tls && { tls: config.mqtt.tls }),
    observer,
    logger,
  });
  closers.push(() => broker.close());
  const bridge = config.mqtt.bridge;
  if (bridge) {
    const bridged = await startMqttBridge({
      ingest: deps.ingest,
      url: bridge.url,
      group: bridge.group,
      clientId: bridge.clientId ?? `strata-bridge-${hostname()}-${config.http.port}-${member}`,
      ...(bridge.username !== undefined && { username: bridge.username }),
      ...(bridge.password !== undefined && { password: bridge.password }),
      observer,
      logger: logger.child({ bridge: bridge.url }), // credentials cannot be in it: the config refuses user:password@ URLs
    });
    closers.push(() => bridged.close());
  }
  return broker.port;
}

/**
 * The lakehouse over the lake store; with `jobs` (the `lake` role) its jobs run on
 * `lake.schedule`, without (an API-only process) it answers queries only, from a staging
 * directory of its own (each lakehouse locks its staging directory). Device metadata and the
 * pseudonymisation key come from the operational store.
 */
async function startLake(config: StrataConfig, deps: { store: ObjectStore; db: Db; jobs: boolean }, logger: Logger) {
  const { enabled: _enabled, schedule, ...settings } = config.lake;
  const lakehouse = await Lakehouse.open({
    store: deps.store,
    stagingDir: join(config.dataDir, deps.jobs ? 'lake-staging' : 'lake-query-staging'),
    pseudonymKey: await platformSecret(deps.db, 'lake_pseudonym_key'),
    devices: () => lakeDevices(deps.db),
    erasedDevices: () => erasedDeviceIds(deps.db.kysely as unknown as RecordsDb),
    topic: TELEMETRY_TOPIC,
    settings,
    logger,
  });
  try {
    return { lakehouse, ...(deps.jobs && { scheduler: startLakeScheduler({ lake: lakehouse, schedule, logger }) }) };
  } catch (err) {
    await lakehouse.close();
    throw err;
  }
}

/**
 * Scheduled backups (`backup.schedule`, default daily), in the process that runs the lake's jobs:
 * the database, the lake's objects and the stream's positions, to `backup.to` (default
 * DATA/backups), keeping the newest `backup.retain`.
 */
async function startBackups(config: StrataConfig, deps: { db: Db; store: ObjectStore; stream: Stream }, logger: Logger, closers: (() => Promise<void>)[]): Promise<void> {
  const target = await openTarget(config.backup.to ?? join(config.dataDir, 'backups'), s3TargetOptions(config.storage.s3));
  closers.push(() => target.store.close());
  const scheduler = startBackupScheduler({
    schedule: config.backup.schedule,
    // The master key is read at each run: after `strata keys rotate-master`, backups use the new one.
    backup: () =>
      createBackup({
        db: deps.db,
        lake: deps.store,
        stream: { stream: deps.stream, topics: PLATFORM_TOPICS },
        masterKey: resolveMasterKey({ configured: config.records.masterKey, dataDir: config.dataDir, create: true }),
        target,
        logger,
      }),
    prune: () => pruneBackups(target.store, config.backup.retain),
    logger,
  });
  closers.push(() => scheduler.stop());
}

/**
 * The `rules` role: telemetry → rule engine → alerts, predictions → prediction rules → alerts
 * (each its own consumer group, snapshots and offsets), and the notifier sending alert events to
 * the configured channels.
 */
async function startRules(config: StrataConfig, deps: { db: Db; stream: Stream; registry: RuleRegistry; publisher: OutboxPublisher }, logger: Logger) {
  const consumer = await startRulesConsumer({
    ...deps,
    registry: ruleSubset(deps.registry, (rule) => !isPredictionRule(rule)),
    topic: TELEMETRY_TOPIC,
    snapshotMs: config.rules.snapshotMs,
    tickMs: config.rules.tickMs,
    logger: logger.child({ component: 'rules' }),
  });
  let predictions: RulesConsumer;
  try {
    predictions = await startRulesConsumer({
      ...deps,
      registry: ruleSubset(deps.registry, isPredictionRule),
      topic: PREDICTIONS_TOPIC,
      group: 'rules-predictions',
      snapshotMs: config.rules.snapshotMs,
      tickMs: config.rules.tickMs,
      logger: logger.child({ component: 'rules', topic: PREDICTIONS_TOPIC }),
    });
  } catch (err) {
    await consumer.stop();
    throw err;
  }
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
    return { consumer, predictions, notifier };
  } catch (err) {
    await Promise.all([consumer.stop(), predictions.stop()]);
    throw err;
  }
}
