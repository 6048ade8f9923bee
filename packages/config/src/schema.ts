import { FormatRegistry, Type, type Static } from '@sinclair/typebox';
import { DEFAULT_INGEST_LIMITS } from '@strata/core';
import { EMBEDDED_DEFAULTS, TOPIC_DEFAULTS } from '@strata/stream';
import { DELIVERY_DEFAULTS, LAKE_DEFAULTS, scheduleProblem } from '@strata/lake';
import { STATE_DEFAULTS } from '@strata/db';
import { PRESETS, RULES_DEFAULTS } from '@strata/rules/defaults';

const MiB = 1024 * 1024;
// Library defaults are the single source: the schema only says which ones a deployment may set.

// `lake.schedule`: checked by the scheduler's own rule (croner), so a schedule that loads runs.
// Addresses for alert e-mail: one @, no spaces; the SMTP server has the final word.
if (!FormatRegistry.Has('email')) FormatRegistry.Set('email', (v) => /^[^\s@]+@[^\s@]+$/.test(v));
if (!FormatRegistry.Has('cron')) FormatRegistry.Set('cron', (v) => scheduleProblem(v) === undefined);

const QuietHours = Type.Object(
  { from: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }), to: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }) },
  { additionalProperties: false, description: 'UTC HH:MM window in which only critical alerts are sent at once; others wait for its end.' },
);

/** What one `strata start` process runs; a deployment spreads them over processes and machines. */
export const ROLES = ['ingest', 'delivery', 'state', 'rules', 'scoring', 'lake', 'api', 'web'] as const;
export type Role = (typeof ROLES)[number];

/** Every setting, with its default. Nothing else in Strata reads `process.env`. */
export const ConfigSchema = Type.Object(
  {
    roles: Type.Array(Type.Union(ROLES.map((r) => Type.Literal(r))), {
      default: [...ROLES],
      minItems: 1,
      uniqueItems: true,
      description: 'Roles this process runs (env STRATA_ROLES=ingest,api). Several processes share work through the stream and the database, so splitting roles needs stream.engine nats and db.url.',
    }),
    environment: Type.Optional(
      Type.String({ pattern: '^[a-z][a-z0-9]{0,15}$', description: 'dev, staging, prod...: suffixes the names of shared resources (S3 bucket, NATS streams) so environments can share servers.' }),
    ),
    dataDir: Type.String({ minLength: 1, default: './data', description: 'Where embedded engines keep their files.' }),
    http: Type.Object(
      {
        host: Type.String({ minLength: 1, default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        bodyLimitBytes: Type.Integer({ minimum: 1024, default: 5 * MiB }),
      },
      { default: {}, additionalProperties: false },
    ),
    ingest: Type.Object(
      {
        maxEventsPerRequest: Type.Integer({ minimum: 1, default: DEFAULT_INGEST_LIMITS.maxEventsPerRequest }),
        maxMetricsPerEvent: Type.Integer({ minimum: 1, default: DEFAULT_INGEST_LIMITS.maxMetricsPerEvent }),
        maxTagsPerEvent: Type.Integer({ minimum: 0, default: DEFAULT_INGEST_LIMITS.maxTagsPerEvent }),
        maxTagValueLength: Type.Integer({ minimum: 1, default: DEFAULT_INGEST_LIMITS.maxTagValueLength }),
        maxFutureMs: Type.Integer({ minimum: 0, default: DEFAULT_INGEST_LIMITS.maxFutureMs }),
        minTimestamp: Type.String({ format: 'date-time', default: new Date(DEFAULT_INGEST_LIMITS.minTimestampMs).toISOString() }),
        parseWorkers: Type.Integer({ minimum: 0, maximum: 64, default: 1, description: 'Worker threads parsing large bodies (0 = all inline).' }),
        processes: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'Ingest processes sharing the HTTP and MQTT ports (Node cluster), for `--roles ingest`; needs stream.engine nats and db.url.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    stream: Type.Object(
      {
        partitions: Type.Integer({ minimum: 1, maximum: 1024, default: 4 }),
        retentionMs: Type.Integer({ minimum: 60_000, default: TOPIC_DEFAULTS.retentionMs }),
        retentionBytes: Type.Integer({ minimum: MiB, default: TOPIC_DEFAULTS.retentionBytes }),
        segmentBytes: Type.Integer({ minimum: 64 * 1024, default: EMBEDDED_DEFAULTS.segmentBytes }),
        dedupWindowMs: Type.Integer({ minimum: 0, default: TOPIC_DEFAULTS.dedupWindowMs }),
        maxPendingBytes: Type.Integer({ minimum: MiB, default: EMBEDDED_DEFAULTS.maxPendingBytes }),
        engine: Type.Union([Type.Literal('embedded'), Type.Literal('nats')], { default: 'embedded', description: 'embedded: files under DATA/stream, one process; nats: NATS JetStream, shared by every process of a deployment.' }),
        nats: Type.Object(
          {
            servers: Type.Array(Type.String({ pattern: '^(nats|tls)://[^@\\s/]+$', description: 'host:port; credentials go in user/password, never in the URL (URLs are logged).' }), { minItems: 1, default: ['nats://127.0.0.1:4222'] }),
            replicas: Type.Union([Type.Literal(1), Type.Literal(3)], { default: 1, description: 'JetStream replicas per partition: 3 survives losing a server of a 3-node cluster.' }),
            user: Type.Optional(Type.String()),
            password: Type.Optional(Type.String({ description: 'Secret.' })),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    storage: Type.Object(
      {
        engine: Type.Union([Type.Literal('local'), Type.Literal('s3')], { default: 'local', description: 'Where the lake lives: local files under DATA/lake, or an S3 bucket.' }),
        s3: Type.Optional(
          Type.Object(
            {
              bucket: Type.String({ pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$', description: 'Gets "-<environment>" appended when `environment` is set.' }),
              prefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?$', description: 'Key prefix inside the bucket, so deployments can share one.' })),
              createBucket: Type.Boolean({ default: false, description: 'Create the bucket at start when missing (dev); in production it is provisioned with its lifecycle rules.' }),
              region: Type.String({ minLength: 1, default: 'us-east-1' }),
              endpoint: Type.Optional(Type.String({ pattern: '^https?://', description: 'For S3-compatible servers (Ceph RGW, MinIO) and emulators.' })),
              forcePathStyle: Type.Boolean({ default: false }),
              accessKeyId: Type.Optional(Type.String({ minLength: 1, description: "Static credentials; without them the AWS SDK's default chain (env, profile, instance role)." })),
              secretAccessKey: Type.Optional(Type.String({ minLength: 1, description: 'Secret.' })),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    mqtt: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'The embedded MQTT broker in the ingest role: devices publish to devices/{id}/telemetry.' }),
        host: Type.String({ minLength: 1, default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 1883, description: '0 picks a free port.' }),
        tls: Type.Optional(
          Type.Object(
            {
              host: Type.Optional(Type.String({ minLength: 1, description: 'Default: mqtt.host. Devices across a network should use TLS: keep the plain listener on 127.0.0.1 and give TLS 0.0.0.0.' })),
              port: Type.Integer({ minimum: 0, maximum: 65535, default: 8883 }),
              certFile: Type.String({ minLength: 1 }),
              keyFile: Type.String({ minLength: 1 }),
            },
            { additionalProperties: false, description: 'A second, TLS listener.' },
          ),
        ),
        bridge: Type.Optional(
          Type.Object(
            {
              url: Type.String({ pattern: '^(mqtts?|tcp|ssl)://[^@\\s/]+$', description: 'External broker (mosquitto...) whose devices/+/telemetry the ingest role takes in: host:port; credentials go in username/password, never in the URL (URLs are logged).' }),
              group: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'strata', description: 'Shared-subscription group: bridge members split the messages.' }),
              clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Stable per member (its persistent session holds its share). Default: strata-bridge-<host>-<http.port>-<ingest process index>.' })),
              username: Type.Optional(Type.String()),
              password: Type.Optional(Type.String({ description: 'Secret.' })),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    delivery: Type.Object(
      {
        flushBytes: Type.Integer({ minimum: 1024, default: DELIVERY_DEFAULTS.flushBytes }),
        flushIntervalMs: Type.Integer({ minimum: 100, default: DELIVERY_DEFAULTS.flushIntervalMs }),
        gzipLevel: Type.Integer({ minimum: 0, maximum: 9, default: DELIVERY_DEFAULTS.gzipLevel, description: "1: 6.8:1 at ~300 MB/s; 6: 7.2:1 at ~130 MB/s on telemetry NDJSON." }),
      },
      { default: {}, additionalProperties: false },
    ),
    lake: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Run the lake role (raw → bronze → silver → gold jobs) in `strata start`.' }),
        schedule: Type.String({ format: 'cron', default: '*/5 * * * *', description: 'When the lake jobs run: a cron expression in UTC, 5 fields (minute first) or 6 (second first). A tick while a run is going is skipped.' }),
        lateAfterMs: Type.Integer({ minimum: 0, default: LAKE_DEFAULTS.lateAfterMs, description: 'An event received more than this after its event time is flagged late.' }),
        outlierSigma: Type.Number({ exclusiveMinimum: 0, default: LAKE_DEFAULTS.outlierSigma, description: 'Standard deviations from the device-metric-day mean beyond which a value is an outlier.' }),
        targetFileBytes: Type.Integer({ minimum: MiB, default: LAKE_DEFAULTS.targetFileBytes, description: 'Size compacted Parquet files aim at.' }),
        maxFilesPerPartition: Type.Integer({ minimum: 1, default: LAKE_DEFAULTS.maxFilesPerPartition, description: 'A bronze day partition with more files than this is compacted.' }),
        batchBytes: Type.Integer({ minimum: 1024, default: LAKE_DEFAULTS.batchBytes, description: 'Compressed bytes of raw objects read per bronze batch (bounds memory).' }),
        memoryLimit: Type.String({ pattern: '^[0-9]+(\\.[0-9]+)? ?([kKmMgGtT]([iI]?[bB])?|[bB])$', default: LAKE_DEFAULTS.memoryLimit, description: "DuckDB's memory limit, e.g. 2GB or 512MiB; beyond it DuckDB spills to DATA/lake-staging." }),
        threads: Type.Integer({ minimum: 1, maximum: 256, default: LAKE_DEFAULTS.threads, description: 'DuckDB worker threads.' }),
        retentionDays: Type.Object(
          {
            bronze: Type.Integer({ minimum: 0, default: LAKE_DEFAULTS.retentionDays.bronze }),
            quarantine: Type.Integer({ minimum: 0, default: LAKE_DEFAULTS.retentionDays.quarantine }),
            silver: Type.Integer({ minimum: 0, default: LAKE_DEFAULTS.retentionDays.silver }),
            gold: Type.Integer({ minimum: 0, default: LAKE_DEFAULTS.retentionDays.gold }),
          },
          { default: {}, additionalProperties: false, description: 'Day partitions older than this are dropped (0 keeps them forever).' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    db: Type.Object(
      {
        url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL server (secret: may hold a password). Without it, embedded PGlite under DATA/db.' })),
        poolSize: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
      },
      { default: {}, additionalProperties: false },
    ),
    state: Type.Object(
      {
        maxBatchEvents: Type.Integer({ minimum: 1, default: STATE_DEFAULTS.maxBatchEvents, description: 'Events coalesced into one database transaction at most (rows written depend on devices and minutes, not events: bigger batches cost less per event).' }),
        maxWaitMs: Type.Integer({ minimum: 0, default: STATE_DEFAULTS.maxWaitMs, description: 'How long a batch waits for more events before it is written.' }),
        rollupRetentionDays: Type.Integer({ minimum: 1, default: STATE_DEFAULTS.rollupRetentionDays }),
      },
      { default: {}, additionalProperties: false },
    ),
    rules: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Run the rules role (telemetry → alerts) in `strata start`.' }),
        presets: Type.Array(Type.Union(Object.keys(PRESETS).map((p) => Type.Literal(p))), { default: Object.keys(PRESETS), uniqueItems: true, description: 'Shipped rule sets to run.' }),
        files: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Rule files (YAML or JSON) or directories of them.' }),
        snapshotMs: Type.Integer({ minimum: 1000, default: RULES_DEFAULTS.snapshotMs, description: 'How often rule state is saved: a restart replays at most about this much telemetry.' }),
        tickMs: Type.Integer({ minimum: 100, default: RULES_DEFAULTS.tickMs, description: 'Heartbeat (missing data) check period.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    ml: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Run the scoring role (telemetry → failure predictions on topic predictions, drift gauges and alerts) in `strata start`. Without an active model it idles.' }),
        model: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$', default: 'pm', description: 'Name of the registered model whose active version scores.' }),
        driftThreshold: Type.Number({ exclusiveMinimum: 0, default: 0.2, description: 'A feature whose PSI (reference vs the last driftWindow scored rows) exceeds this raises an ml-drift alert; it resolves once every feature is back under.' }),
        driftWindow: Type.Integer({ minimum: 50, maximum: 1_000_000, default: 1000, description: 'Scored rows in the sliding window PSI is computed over.' }),
        refreshSeconds: Type.Number({ minimum: 0.1, maximum: 3600, default: 5, description: 'How often the active model version is checked (a new one is swapped in) and the drift gauges refreshed.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    notifications: Type.Object(
      {
        channels: Type.Record(
          Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
          Type.Union([
            Type.Object(
              {
                type: Type.Literal('webhook'),
                url: Type.String({ pattern: '^https?://', description: 'Receives a signed JSON POST per alert change.' }),
                secret: Type.String({ minLength: 16, description: 'HMAC-SHA256 signing key (secret).' }),
                timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000 })),
                quietHours: Type.Optional(QuietHours),
              },
              { additionalProperties: false },
            ),
            Type.Object(
              {
                type: Type.Literal('email'),
                to: Type.Array(Type.String({ format: 'email' }), { minItems: 1, maxItems: 100 }),
                quietHours: Type.Optional(QuietHours),
              },
              { additionalProperties: false },
            ),
          ]),
          { default: {}, description: 'Named destinations rules route alerts to (`notify: [{channel, minSeverity}]`).' },
        ),
        smtp: Type.Optional(
          Type.Object(
            {
              host: Type.String({ minLength: 1 }),
              port: Type.Integer({ minimum: 1, maximum: 65535, default: 587 }),
              secure: Type.Boolean({ default: false, description: 'TLS from the start (port 465); else STARTTLS when offered.' }),
              user: Type.Optional(Type.String()),
              password: Type.Optional(Type.String({ description: 'Secret.' })),
              from: Type.String({ format: 'email' }),
            },
            { additionalProperties: false },
          ),
        ),
        retry: Type.Object(
          {
            maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 8 }),
            minMs: Type.Integer({ minimum: 10, default: 1000 }),
            maxMs: Type.Integer({ minimum: 10, default: 300_000 }),
          },
          { default: {}, additionalProperties: false, description: 'Exponential backoff between attempts; after the last one a notification is dead (GET /v1/notifications?status=dead).' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    records: Type.Object(
      {
        masterKey: Type.Optional(
          Type.String({ pattern: '^([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)$', description: 'Master key of the envelope encryption of patient names and backups: 32 bytes, base64 or hex (secret; env STRATA_MASTER_KEY). Without it, DATA/master.key (made on first use, mode 0600).' }),
        ),
        importBatchSize: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000, description: 'Rows per database statement when importing patients.' }),
        anonymityK: Type.Integer({ minimum: 2, maximum: 1000, default: 5, description: 'k of the anonymised view: a row is released only when at least k rows share its age band, gender, blood type and admission year.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    backup: Type.Object(
      {
        to: Type.Optional(Type.String({ minLength: 1, description: 'Where scheduled backups go: a directory or s3://bucket/prefix. Without it, DATA/backups.' })),
        schedule: Type.String({ format: 'cron', default: '0 3 * * *', description: 'When the lake role takes a backup (cron, UTC). Default: daily at 03:00.' }),
        retain: Type.Integer({ minimum: 1, maximum: 1000, default: 7, description: 'Backups kept; older ones are deleted after a new one succeeds.' }),
        enabled: Type.Boolean({ default: true, description: 'Take scheduled backups in the lake role of `strata start`.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    devices: Type.Object(
      {
        registration: Type.Union([Type.Literal('auto'), Type.Literal('known-only')], {
          default: 'auto',
          description: 'auto: a device is registered on its first event; known-only: ingest answers 403 for devices not created through the API.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    auth: Type.Object(
      {
        accessTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 86_400, default: 900 }),
        refreshTokenTtlSeconds: Type.Integer({ minimum: 300, default: 7 * 86_400 }),
        loginAttemptsPerMinute: Type.Integer({ minimum: 1, default: 10, description: 'Per client address and username.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    rateLimit: Type.Object(
      {
        perSecond: Type.Number({ minimum: 0, default: 100, description: 'Requests per second per key or user on the API (0 = unlimited).' }),
        burst: Type.Integer({ minimum: 1, default: 200 }),
        ingestPerSecond: Type.Number({ minimum: 0, default: 20_000, description: 'Requests per second per ingest key (0 = unlimited).' }),
        ingestBurst: Type.Integer({ minimum: 1, default: 40_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    demo: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        machines: Type.Integer({ minimum: 0, maximum: 1000, default: 3 }),
        patients: Type.Integer({ minimum: 0, maximum: 1000, default: 3 }),
        intervalMs: Type.Integer({ minimum: 50, default: 1000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info' },
        ),
        pretty: Type.Union([Type.Boolean(), Type.Literal('auto')], { default: 'auto', description: 'Human-readable logs; auto = when stdout is a TTY.' }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type StrataConfig = Static<typeof ConfigSchema>;
