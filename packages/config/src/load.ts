import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { FormatRegistry } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, type StrataConfig } from './schema.js';
import { configErrors } from './errors.js';

if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)));
}

/** Environment variables with a short, documented name. Anything else: `STRATA_<SECTION>__<KEY>`. */
const ENV_ALIASES: Record<string, string> = {
  STRATA_DATA: 'dataDir',
  STRATA_PORT: 'http.port',
  STRATA_HOST: 'http.host',
  STRATA_LOG_LEVEL: 'log.level',
  STRATA_DB_URL: 'db.url',
  STRATA_ROLES: 'roles',
  STRATA_ENVIRONMENT: 'environment',
  STRATA_MASTER_KEY: 'records.masterKey',
};

/** Settings that are lists take a comma-separated value from the environment. */
const LIST_SETTINGS = new Set(['roles', 'stream.nats.servers', 'rules.presets', 'rules.files']);

export interface LoadOptions {
  /** YAML or JSON file; missing keys keep their defaults. */
  file?: string;
  /** Usually `process.env`; only the app entry point passes it. */
  env?: Record<string, string | undefined>;
  /** Dotted-path overrides from command-line flags, e.g. `{ 'http.port': 9000 }`. They win over everything. */
  overrides?: Record<string, unknown>;
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1]!] = value;
}

/** Env values are strings; numbers and booleans are recognised so the schema can check them. */
function envValue(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

function envToCamel(part: string): string {
  return part.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function readFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configErrors.STRATA_ERR_CONFIG_FILE({ file, reason: (err as Error).message }, err);
  }
  try {
    const parsed: unknown = parseYaml(text); // YAML is a superset of JSON
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('top level must be a mapping');
    return parsed as Tree;
  } catch (err) {
    throw configErrors.STRATA_ERR_CONFIG_FILE({ file, reason: (err as Error).message }, err);
  }
}

/**
 * One parse of defaults < config file < environment < flags, checked against the schema.
 * Fails fast with every problem listed; the result is deep-frozen.
 */
export function loadConfig(opts: LoadOptions = {}): StrataConfig {
  const tree: Tree = opts.file ? readFile(opts.file) : {};
  for (const [name, raw] of Object.entries(opts.env ?? {})) {
    if (raw === undefined || !name.startsWith('STRATA_')) continue;
    const alias = ENV_ALIASES[name];
    const path = alias ?? (name.includes('__') ? name.slice('STRATA_'.length).split('__').map(envToCamel).join('.') : undefined);
    if (path) setPath(tree, path, LIST_SETTINGS.has(path) ? raw.split(',').map((v) => v.trim()).filter(Boolean) : envValue(raw));
  }
  for (const [path, value] of Object.entries(opts.overrides ?? {})) {
    if (value !== undefined) setPath(tree, path, value);
  }
  const withDefaults = Value.Default(ConfigSchema, tree) as Tree;
  const problems = [...Value.Errors(ConfigSchema, withDefaults)].map((e) => `${e.path || '/'} ${e.message}`);
  if (problems.length === 0) problems.push(...deploymentProblems(withDefaults as StrataConfig));
  if (problems.length > 0) throw configErrors.STRATA_ERR_CONFIG_INVALID({ problems: problems.join('; ') });
  const config = withDefaults as StrataConfig;
  config.dataDir = resolve(config.dataDir);
  return deepFreeze(config);
}

/** Settings that are valid one by one but do not make a deployment together. */
function deploymentProblems(config: StrataConfig): string[] {
  const problems: string[] = [];
  if (config.storage.engine === 's3' && !config.storage.s3) problems.push('/storage/s3 is required with storage.engine s3');
  if (config.ingest.processes > 1) {
    // Embedded engines belong to one process: several ingest processes must share servers.
    if (config.stream.engine !== 'nats') problems.push('/ingest/processes above 1 needs stream.engine nats');
    if (!config.db.url) problems.push('/ingest/processes above 1 needs db.url (a PostgreSQL server)');
    if (config.roles.some((r) => r !== 'ingest')) problems.push('/ingest/processes above 1 is for a process whose only role is ingest (--roles ingest)');
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
