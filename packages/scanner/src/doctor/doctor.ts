/**
 * The platform doctor (seed 000's validate_infrastructure.py, for Strata): checks a running
 * deployment from outside — its config and data dir, its API (health, readiness, auth, OpenAPI,
 * clock, consumer lag from /metrics), its object store (write, read, delete a probe in every lake
 * zone), its PostgreSQL server when it has one (reachable, migrations current, platform secrets
 * present), TLS certificates, disk and retention settings. Every check returns pass, warn, fail or
 * skip (with why); nothing throws out of `runDoctor`. Probes write only under `<zone>/_doctor/`
 * and delete what they wrote.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StrataConfig } from '@strata/config';
import type { ObjectStore } from '@strata/storage';

export type DoctorStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface DoctorResult {
  id: string;
  title: string;
  status: DoctorStatus;
  detail: string;
  ms: number;
}

/** What the doctor may ask of PostgreSQL (a `pg` client, or a fake in tests). */
export interface DoctorSql {
  query(text: string): Promise<{ rows: Record<string, unknown>[] }>;
}

export interface DoctorOptions {
  config: StrataConfig;
  /** The API's base URL. */
  url: string;
  adminKey?: string;
  /** Where the admin key came from, when it was read from a file (its mode is checked). */
  adminKeyFile?: string;
  /** The deployment's object store (opened by the caller from the config). */
  store?: ObjectStore;
  /** A connection to the deployment's PostgreSQL server (config `db.url`); absent for the embedded database. */
  sql?: DoctorSql;
  /** Migration names this code knows, in order (`Object.keys(MIGRATIONS)` of @strata/db). */
  migrations: readonly string[];
  thresholds?: Partial<typeof DOCTOR_THRESHOLDS>;
  fetch?: typeof fetch;
}

export const DOCTOR_THRESHOLDS = {
  /** Records a consumer group may be behind before a warning (fail at 10×). */
  maxLagRecords: 100_000,
  /** Days a TLS certificate must still be valid. */
  certDays: 30,
  minFreeBytes: 1024 ** 3,
  minFreePercent: 10,
  maxSkewMs: 5_000,
  /** Stream retention below this is a warning (Kinesis's default is 24 h). */
  minStreamRetentionMs: 24 * 3_600_000,
  httpTimeoutMs: 5_000,
};

export const LAKE_ZONES = ['raw', 'errors', 'bronze', 'quarantine', 'silver', 'gold', '_state'] as const;
const WEAK_KEYS = new Set(['changeme', 'change-me', 'admin', 'password', 'secret', 'test', 'strata', 'default', 'stk_test', 'stk_admin']);

export async function runDoctor(opts: DoctorOptions): Promise<{ results: DoctorResult[]; ok: boolean }> {
  const t = { ...DOCTOR_THRESHOLDS, ...opts.thresholds };
  const doFetch = opts.fetch ?? fetch;
  const results: DoctorResult[] = [];
  const check = async (id: string, title: string, fn: () => Promise<[DoctorStatus, string]> | [DoctorStatus, string]): Promise<void> => {
    const start = performance.now();
    let status: DoctorStatus;
    let detail: string;
    try {
      [status, detail] = await fn();
    } catch (err) {
      status = 'fail';
      detail = err instanceof Error ? err.message : String(err);
    }
    results.push({ id, title, status, detail: detail.slice(0, 300), ms: Math.round(performance.now() - start) });
  };
  const http = async (path: string, auth = false): Promise<Response> => {
    const headers: Record<string, string> = auth && opts.adminKey ? { authorization: `Bearer ${opts.adminKey}` } : {};
    return doFetch(new URL(path, opts.url), { headers, signal: AbortSignal.timeout(t.httpTimeoutMs) });
  };
  const { config } = opts;

  // Process and host
  await check('node.version', 'Node.js is 20.19 or newer', () => {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    return major > 20 || (major === 20 && minor >= 19) ? ['pass', process.version] : ['fail', `${process.version}: Strata needs >= 20.19`];
  });
  await check('config.valid', 'Config parses and validates', () => ['pass', `roles ${config.roles.join(',')}; stream ${config.stream.engine}; storage ${config.storage.engine}; db ${config.db.url ? 'server' : 'embedded'}`]);
  await check('data.writable', 'Data directory is writable', async () => {
    const probe = join(config.dataDir, `.doctor-${randomUUID()}`);
    await writeFile(probe, 'probe');
    await rm(probe);
    return ['pass', config.dataDir];
  });
  await check('disk.free', `Data directory has ${t.minFreePercent}% and ${t.minFreeBytes / 1024 ** 3} GiB free`, async () => {
    const s = await statfs(config.dataDir);
    const free = s.bavail * s.bsize;
    const percent = (100 * s.bavail) / s.blocks;
    const text = `${(free / 1024 ** 3).toFixed(1)} GiB free (${percent.toFixed(1)}%)`;
    if (free < t.minFreeBytes || percent < t.minFreePercent / 2) return ['fail', text];
    return [percent < t.minFreePercent ? 'warn' : 'pass', text];
  });

  // Admin key
  await check('admin_key.file', 'Admin key file is readable by its owner only', () => {
    if (!opts.adminKeyFile) return ['skip', 'admin key not read from a file'];
    const mode = statSync(opts.adminKeyFile).mode & 0o777;
    return (mode & 0o077) === 0 ? ['pass', `${opts.adminKeyFile} mode ${mode.toString(8)}`] : ['fail', `${opts.adminKeyFile} mode ${mode.toString(8)}: chmod 600`];
  });
  await check('admin_key.not_default', 'Admin key is a generated key, not a default', () => {
    const key = opts.adminKey;
    if (!key) return ['fail', 'no admin key (--admin-key or DATA/admin.key)'];
    if (WEAK_KEYS.has(key.toLowerCase()) || !key.startsWith('stk_') || key.length < 32) return ['fail', 'the admin key is a default or too short: create one with strata keys create --scopes admin and revoke this one'];
    return ['pass', 'generated key (stk_…)'];
  });

  // API
  await check('api.health', 'API answers /health', async () => {
    const res = await http('/health');
    return res.ok ? ['pass', `${res.status}`] : ['fail', `${res.status}`];
  });
  await check('api.ready', 'API is ready (/ready probes stream, store, database)', async () => {
    const res = await http('/ready');
    const body = await res.text();
    return res.ok ? ['pass', body.slice(0, 200)] : ['fail', `${res.status} ${body.slice(0, 200)}`];
  });
  await check('api.auth', 'Admin key is accepted by the API', async () => {
    if (!opts.adminKey) return ['skip', 'no admin key'];
    const res = await http('/v1/keys', true);
    if (res.ok) return ['pass', `${res.status}`];
    // 401/403: the key itself; anything else: the server could not look it up (its database, see api.ready).
    return ['fail', res.status === 401 || res.status === 403 ? `${res.status}: the key is unknown, revoked or not admin` : `${res.status}: the server could not check the key (see api.ready)`];
  });
  await check('api.openapi', 'API publishes its OpenAPI document', async () => {
    const res = await http('/openapi.json', true);
    if (!res.ok) return ['fail', `${res.status}`];
    const doc = (await res.json()) as { openapi?: string; paths?: Record<string, unknown> };
    return doc.openapi && doc.paths ? ['pass', `OpenAPI ${doc.openapi}, ${Object.keys(doc.paths).length} paths`] : ['fail', 'not an OpenAPI document'];
  });
  await check('clock.skew', `Server clock within ${t.maxSkewMs / 1000} s of this one`, async () => {
    const before = Date.now();
    const res = await http('/health');
    const after = Date.now();
    const date = res.headers.get('date');
    if (!date) return ['warn', 'the server sent no Date header'];
    // The header has whole seconds: allow for them and the round trip.
    const skew = Date.parse(date) - (before + after) / 2;
    return Math.abs(skew) <= t.maxSkewMs + 1000 + (after - before) ? ['pass', `${skew} ms`] : ['fail', `server clock off by ${Math.round(skew / 1000)} s: check NTP`];
  });
  await check('stream.consumer_lag', `Consumer groups within ${t.maxLagRecords} records`, async () => {
    if (!opts.adminKey) return ['skip', 'no admin key for /metrics'];
    const res = await http('/metrics', true);
    if (!res.ok) return ['fail', `/metrics: ${res.status}`];
    const lags = parseLag(await res.text());
    if (lags.length === 0) return ['warn', 'no consumer group has committed yet'];
    const worst = lags.reduce((a, b) => (b.lag > a.lag ? b : a));
    const text = `${lags.length} group(s); worst ${worst.group} on ${worst.topic}: ${worst.lag} records`;
    if (worst.lag > 10 * t.maxLagRecords) return ['fail', text];
    return [worst.lag > t.maxLagRecords ? 'warn' : 'pass', text];
  });

  // Object store: every lake zone
  for (const zone of LAKE_ZONES) {
    await check(`storage.${zone}`, `Object store: ${zone}/ writable and readable`, async () => {
      const store = opts.store;
      if (!store) return ['skip', 'no object store'];
      const key = `${zone}/_doctor/probe-${randomUUID()}`;
      const body = randomBytes(64);
      await store.put(key, body);
      try {
        const back = await store.get(key);
        if (!back || !back.equals(body)) return ['fail', `${key}: read back differs`];
      } finally {
        await store.delete(key);
      }
      if (await store.get(key)) return ['fail', `${key}: still there after delete`];
      return ['pass', `${store.engine}: put, get, delete`];
    });
  }

  // Database server
  const sql = opts.sql;
  await check('db.reachable', 'PostgreSQL server answers', async () => {
    if (!sql) return ['skip', 'embedded database (probed by /ready)'];
    const { rows } = await sql.query('select version() as v');
    return ['pass', String(rows[0]?.v ?? '').split(' ').slice(0, 2).join(' ')];
  });
  await check('db.migrations', 'Database migrations are current', async () => {
    if (!sql) return ['skip', 'embedded database (migrated by the server at start)'];
    const applied = (await sql.query('select name from schema_migrations order by name')).rows.map((r) => String(r.name));
    const missing = opts.migrations.filter((m) => !applied.includes(m));
    const unknown = applied.filter((m) => !opts.migrations.includes(m));
    if (unknown.length > 0) return ['fail', `the database is newer than this code: ${unknown.join(', ')}`];
    return missing.length === 0 ? ['pass', `${applied.length} applied, latest ${applied[applied.length - 1] ?? 'none'}`] : ['fail', `not applied: ${missing.join(', ')} (start the server to migrate)`];
  });
  let master: Buffer | undefined;
  await check('secrets.master_key', 'Platform secrets present (JWT signing, lake pseudonyms)', async () => {
    if (!sql) return ['skip', 'embedded database: not readable while the server runs'];
    const rows = (await sql.query("select key, value from settings where key in ('jwt_secret', 'lake_pseudonym_key')")).rows;
    const bad = ['jwt_secret', 'lake_pseudonym_key'].filter((k) => Buffer.from(String(rows.find((r) => r.key === k)?.value ?? ''), 'base64url').length < 32);
    master = rows.find((r) => r.key === 'lake_pseudonym_key') ? Buffer.from(String(rows.find((r) => r.key === 'lake_pseudonym_key')!.value), 'base64url') : undefined;
    return bad.length === 0 ? ['pass', 'both present, 256-bit'] : ['fail', `missing or short: ${bad.join(', ')}`];
  });
  await check('secrets.round_trip', 'Encrypt / decrypt round trip (AES-256-GCM, key derived from the platform secret)', () => {
    const key = Buffer.from(hkdfSync('sha256', master ?? randomBytes(32), Buffer.alloc(0), 'strata-doctor', 32));
    const iv = randomBytes(12);
    const plain = randomBytes(48);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const sealed = Buffer.concat([c.update(plain), c.final()]);
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAuthTag(c.getAuthTag());
    const opened = Buffer.concat([d.update(sealed), d.final()]);
    return opened.equals(plain) ? ['pass', master ? 'with the platform secret' : 'with a random key (platform secret not readable)'] : ['fail', 'decrypted bytes differ'];
  });

  // TLS and retention
  await check('tls.certificates', `TLS certificates valid for ${t.certDays} more days`, () => {
    const tls = config.mqtt.tls;
    if (!tls) return ['skip', 'no TLS listener configured'];
    const cert = new X509Certificate(readFileSync(tls.certFile));
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    const text = `${tls.certFile}: ${cert.subject.replace(/\n/g, ', ')}, expires ${cert.validTo} (${Math.floor(days)} days)`;
    if (days < 0) return ['fail', text];
    return [days < t.certDays ? 'warn' : 'pass', text];
  });
  await check('retention.stream', 'Stream keeps at least 24 h', () => {
    const h = config.stream.retentionMs / 3_600_000;
    return [config.stream.retentionMs >= t.minStreamRetentionMs ? 'pass' : 'warn', `${h} h, ${(config.stream.retentionBytes / 1024 ** 2).toFixed(0)} MiB per partition`];
  });
  await check('retention.lake', 'Lake retention keeps gold at least as long as silver', () => {
    const r = config.lake.retentionDays;
    const forever = (d: number) => (d === 0 ? Infinity : d);
    const text = `bronze ${r.bronze || '∞'}, silver ${r.silver || '∞'}, gold ${r.gold || '∞'}, quarantine ${r.quarantine || '∞'} days`;
    return forever(r.gold) >= forever(r.silver) ? ['pass', text] : ['warn', `${text}: gold (aggregates) dropped before silver`];
  });
  await check('retention.rollups', 'Store keeps at least 7 days of rollups', () => [config.state.rollupRetentionDays >= 7 ? 'pass' : 'warn', `${config.state.rollupRetentionDays} days`]);

  return { results, ok: results.every((r) => r.status !== 'fail') };
}

/** `strata_stream_consumer_lag_records{topic,group}` samples of a Prometheus exposition. */
export function parseLag(text: string): { topic: string; group: string; lag: number }[] {
  const out: { topic: string; group: string; lag: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^strata_stream_consumer_lag_records\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    out.push({ topic: labels.topic ?? '?', group: labels.group ?? '?', lag: Number(m[2]) });
  }
  return out;
}

/** The results as a fixed-width table. */
export function renderDoctorTable(results: readonly DoctorResult[]): string {
  const w = Math.max(...results.map((r) => r.id.length), 5);
  const lines = [`${'check'.padEnd(w)}  status  detail`, `${'-'.repeat(w)}  ------  ------`];
  for (const r of results) lines.push(`${r.id.padEnd(w)}  ${r.status.toUpperCase().padEnd(6)}  ${r.detail}`);
  const n = (s: DoctorStatus) => results.filter((r) => r.status === s).length;
  lines.push('', `${results.length} checks: ${n('pass')} pass, ${n('warn')} warn, ${n('fail')} fail, ${n('skip')} skip`);
  return lines.join('\n') + '\n';
}
