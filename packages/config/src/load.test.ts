import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { LAKE_DEFAULTS } from '@strata/lake';
import { configErrors } from './errors.js';

describe('loadConfig', () => {
  it('gives the documented defaults with nothing set', () => {
    const c = loadConfig();
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080, bodyLimitBytes: 5 * 1024 * 1024 });
    expect(c.stream.retentionMs).toBe(24 * 3600 * 1000);
    expect(c.delivery).toMatchObject({ flushBytes: 5 * 1024 * 1024, flushIntervalMs: 300_000 });
    expect(c.dataDir).toBe(join(process.cwd(), 'data'));
  });

  it('layers file < env < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
    const file = join(dir, 'strata.yaml');
    writeFileSync(file, 'http:\n  port: 9000\n  host: 0.0.0.0\nstream:\n  partitions: 8\n');
    const c = loadConfig({
      file,
      env: { STRATA_PORT: '9100', STRATA_STREAM__PARTITIONS: '16', STRATA_DELIVERY__FLUSH_INTERVAL_MS: '1000', HOME: '/root' },
      overrides: { 'http.port': 9200 },
    });
    expect(c.http.port).toBe(9200);
    expect(c.http.host).toBe('0.0.0.0');
    expect(c.stream.partitions).toBe(16);
    expect(c.delivery.flushIntervalMs).toBe(1000);
  });

  it('is frozen', () => {
    const c = loadConfig();
    expect(() => {
      (c.http as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('fails fast listing every problem', () => {
    let caught: unknown;
    try {
      loadConfig({ env: { STRATA_PORT: '70000', STRATA_LOG_LEVEL: 'loud' }, overrides: { 'demo.bogus': 1 } });
    } catch (err) {
      caught = err;
    }
    expect(configErrors.STRATA_ERR_CONFIG_INVALID.is(caught)).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain('/http/port');
    expect(message).toContain('/log/level');
    expect(message).toMatch(/demo/);
  });

  it('gives the lake section its library defaults: the lake role on, every 5 minutes', () => {
    const { enabled, schedule, ...settings } = loadConfig().lake;
    expect(enabled).toBe(true);
    expect(schedule).toBe('*/5 * * * *');
    expect(settings).toEqual(LAKE_DEFAULTS);
  });

  it('takes lake settings from file and env, nested ones too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
    const file = join(dir, 'strata.yaml');
    writeFileSync(file, 'lake:\n  schedule: "0 */2 * * *"\n  memoryLimit: 512MB\n  retentionDays:\n    bronze: 30\n');
    const c = loadConfig({ file, env: { STRATA_LAKE__ENABLED: 'false', STRATA_LAKE__RETENTION_DAYS__GOLD: '3650', STRATA_LAKE__THREADS: '4' } });
    expect(c.lake).toMatchObject({ enabled: false, schedule: '0 */2 * * *', memoryLimit: '512MB', threads: 4 });
    expect(c.lake.retentionDays).toEqual({ ...LAKE_DEFAULTS.retentionDays, bronze: 30, gold: 3650 });
  });

  it('refuses a bad cron schedule and other bad lake values', () => {
    for (const schedule of ['*/5 * * *', '61 * * * *', 'every 5 minutes', '2030-01-01T00:00:00']) {
      expect(() => loadConfig({ overrides: { 'lake.schedule': schedule } }), schedule).toThrow(
        expect.objectContaining({ code: configErrors.STRATA_ERR_CONFIG_INVALID.code, message: expect.stringContaining('/lake/schedule') }),
      );
    }
    expect(loadConfig({ overrides: { 'lake.schedule': '*/30 * * * * *' } }).lake.schedule).toBe('*/30 * * * * *');
    let caught: unknown;
    try {
      loadConfig({ overrides: { 'lake.memoryLimit': 'lots', 'lake.outlierSigma': 0, 'lake.retentionDays.silver': -1, 'lake.retentionDays.platinum': 1 } });
    } catch (err) {
      caught = err;
    }
    const message = (caught as Error).message;
    expect(message).toContain('/lake/memoryLimit');
    expect(message).toContain('/lake/outlierSigma');
    expect(message).toContain('/lake/retentionDays/silver');
    expect(message).toMatch(/retentionDays.*platinum|platinum/);
  });

  it('gives the ml section its defaults and takes it from the environment', () => {
    expect(loadConfig().ml).toEqual({ enabled: true, model: 'pm', driftThreshold: 0.2, driftWindow: 1000, refreshSeconds: 5 });
    const c = loadConfig({ env: { STRATA_ML__DRIFT_THRESHOLD: '0.25', STRATA_ML__DRIFT_WINDOW: '500', STRATA_ML__MODEL: 'press-failure', STRATA_ML__ENABLED: 'false' } });
    expect(c.ml).toMatchObject({ enabled: false, model: 'press-failure', driftThreshold: 0.25, driftWindow: 500 });
    expect(() => loadConfig({ overrides: { 'ml.driftThreshold': 0, 'ml.driftWindow': 10, 'ml.model': 'Bad Name' } })).toThrow(/ml\/driftThreshold.*ml\/driftWindow.*ml\/model|ml\/model.*ml\/drift/s);
  });

  it('reports an unreadable or malformed file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
    expect(() => loadConfig({ file: join(dir, 'missing.yaml') })).toThrow(/cannot read config file/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, '- just\n- a list\n');
    expect(() => loadConfig({ file: bad })).toThrow(/top level must be a mapping/);
  });

  it('describes a deployment in one file, with roles and lists from the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
    const file = join(dir, 'prod.yaml');
    writeFileSync(
      file,
      [
        'environment: prod',
        'db: { url: "postgres://strata@db.internal:5432/strata" }',
        'stream: { engine: nats, nats: { servers: ["nats://n1:4222"], replicas: 3 } }',
        'storage: { engine: s3, s3: { bucket: strata-lake, endpoint: "http://rgw:7480", forcePathStyle: true } }',
      ].join('\n'),
    );
    const c = loadConfig({ file, env: { STRATA_ROLES: 'ingest, api', STRATA_STREAM__NATS__SERVERS: 'nats://a:4222,nats://b:4222' } });
    expect(c.roles).toEqual(['ingest', 'api']);
    expect(c.environment).toBe('prod');
    expect(c.stream.nats).toEqual({ servers: ['nats://a:4222', 'nats://b:4222'], replicas: 3 });
    expect(c.storage.s3).toMatchObject({ bucket: 'strata-lake', region: 'us-east-1', forcePathStyle: true });
    expect(loadConfig().roles).toEqual(['ingest', 'delivery', 'state', 'rules', 'scoring', 'lake', 'api', 'web']);
  });

  it('refuses settings that do not make a deployment together', () => {
    const problems = (overrides: Record<string, unknown>): string => {
      try {
        loadConfig({ overrides });
        return '';
      } catch (err) {
        expect(configErrors.STRATA_ERR_CONFIG_INVALID.is(err)).toBe(true);
        return (err as Error).message;
      }
    };
    expect(problems({ roles: ['ingest', 'oven'] })).toMatch(/roles/);
    expect(problems({ roles: [] })).toMatch(/roles/);
    expect(problems({ 'storage.engine': 's3' })).toMatch(/storage\/s3 is required/);
    // Several ingest processes share servers, never embedded engines.
    const embedded = problems({ roles: ['ingest'], 'ingest.processes': 2 });
    expect(embedded).toMatch(/needs stream.engine nats/);
    expect(embedded).toMatch(/needs db.url/);
    expect(problems({ 'ingest.processes': 2, 'stream.engine': 'nats', 'db.url': 'postgres://x@h/db' })).toMatch(/only role is ingest/);
    expect(problems({ roles: ['ingest'], 'ingest.processes': 2, 'stream.engine': 'nats', 'db.url': 'postgres://x@h/db' })).toBe('');
    expect(problems({ environment: 'Prod!' })).toMatch(/environment/);
    // URLs are logged: credentials belong in their own (secret) settings.
    expect(problems({ 'stream.nats.servers': ['nats://user:secret@n1:4222'] })).toMatch(/servers/);
    expect(problems({ 'mqtt.bridge': { url: 'mqtt://user:secret@broker:1883' } })).toMatch(/bridge/);
  });
});
