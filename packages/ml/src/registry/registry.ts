/**
 * The model registry: versioned, immutable model artifacts in the object store, named in the
 * database.
 *
 * Layout: the artifact's JSON bytes at `ml/models/<name>/v<version>.json`; one `ml_models` row
 * per (name, version) with the sha256 and size of those bytes, the training data's sha256 and
 * source, the metrics, the feature names, who made it and when, and `active`.
 *
 * Invariants:
 * - Versions count from 1 per name, in order of registration. `register` takes a per-name
 *   transaction-scoped advisory lock, so two concurrent registers of one name get two versions.
 * - The object is written before its row, inside that transaction: a row always names a whole
 *   object. A crash between the two leaves an object no row names; the next register of that
 *   name takes the same version and overwrites it.
 * - The same bytes registered again under the same name are not a new version: `register`
 *   answers the existing one (`created: false`). A retried register (lost answer) or the same
 *   training job run twice (same data, options and seed give the same bytes) adds nothing.
 * - Every load checks the object's sha256 against the row: an edited or truncated object is
 *   refused (`STRATA_ERR_ML_INTEGRITY`, naming the object), never scored with.
 * - At most one active version per name (a unique partial index); `activate` switches in one
 *   transaction, so readers see the old or the new version, never none or two.
 *
 * `active(name)` is what scoring calls per request or poll: one indexed query for the active
 * version (skipped for `maxAgeMs` after the last one) and the parsed artifact from a cache keyed
 * by version and sha256, so only a switch loads an object.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '@strata/storage';
import { sql, type Selectable } from 'kysely';
import { mlErrors } from '../errors.js';
import { loadArtifact } from '../artifact/predict.js';
import type { ModelArtifact } from '../artifact/train.js';
import { featureNames } from '../features/encode.js';
import type { MlDb, MlModelsTable, StoredMetrics } from './schema.js';

/** Model names: what `name@version` references and object keys can carry. */
export const MODEL_NAME = /^[a-z][a-z0-9_-]{0,63}$/;
/** The name scoring uses when none is given. */
export const DEFAULT_MODEL_NAME = 'pm';

export interface ModelRecord {
  readonly name: string;
  readonly version: number;
  readonly kind: string;
  readonly objectKey: string;
  readonly artifactSha256: string;
  readonly artifactBytes: number;
  readonly data: { readonly sha256: string; readonly source: string };
  readonly metrics: StoredMetrics;
  readonly featureNames: readonly string[];
  readonly created: Date;
  readonly createdBy: string;
  readonly active: boolean;
  /** When it last became active or inactive (null: never active). */
  readonly activated: Date | null;
}

export interface LoadedModel {
  readonly record: ModelRecord;
  readonly artifact: ModelArtifact;
}

export interface RegistryOptions {
  db: MlDb;
  store: ObjectStore;
  /** How long `active()` trusts its last look at the database. Default 1000 ms; 0: every call looks. */
  maxAgeMs?: number;
  /** Parsed artifacts kept in memory (by name, version and sha256). Default 8. */
  cacheSize?: number;
  now?: () => number;
}

/** `ml/models/<name>/v<version>.json`. */
export const modelObjectKey = (name: string, version: number): string => `ml/models/${name}/v${version}.json`;

/** Parses `name` or `name@version`; throws `STRATA_ERR_ML_BAD_MODEL_NAME`. */
export function parseModelRef(ref: string): { name: string; version?: number } {
  const m = /^([^@]*)(?:@(.*))?$/.exec(ref)!;
  const name = m[1]!;
  if (!MODEL_NAME.test(name)) throw mlErrors.STRATA_ERR_ML_BAD_MODEL_NAME({ model: JSON.stringify(ref), reason: `the name must match ${MODEL_NAME}` });
  if (m[2] === undefined) return { name };
  const version = /^v?([1-9][0-9]{0,8})$/.exec(m[2]);
  if (!version) throw mlErrors.STRATA_ERR_ML_BAD_MODEL_NAME({ model: JSON.stringify(ref), reason: 'the version must be a positive integer' });
  return { name, version: Number(version[1]) };
}

function assertName(name: string): void {
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) throw mlErrors.STRATA_ERR_ML_BAD_MODEL_NAME({ model: JSON.stringify(name), reason: `the name must match ${MODEL_NAME}` });
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function toRecord(r: Selectable<MlModelsTable>): ModelRecord {
  return {
    name: r.name,
    version: r.version,
    kind: r.kind,
    objectKey: r.object_key,
    artifactSha256: r.artifact_sha256,
    artifactBytes: r.artifact_bytes,
    data: { sha256: r.data_sha256, source: r.data_source },
    metrics: r.metrics,
    featureNames: r.feature_names,
    created: r.created,
    createdBy: r.created_by,
    active: r.active,
    activated: r.activated,
  };
}

export class ModelRegistry {
  readonly #db: MlDb;
  readonly #store: ObjectStore;
  readonly #maxAgeMs: number;
  readonly #cacheSize: number;
  readonly #now: () => number;
  /** Verified artifacts by `name@version#sha256`, oldest first. */
  readonly #artifacts = new Map<string, ModelArtifact>();
  /** The last look at each name's active version. */
  readonly #active = new Map<string, { at: number; model: LoadedModel | undefined }>();

  constructor(opts: RegistryOptions) {
    this.#db = opts.db;
    this.#store = opts.store;
    this.#maxAgeMs = opts.maxAgeMs ?? 1000;
    this.#cacheSize = opts.cacheSize ?? 8;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Stores the artifact and registers it as the next version of `name` (see the header: the
   * same bytes again answer the existing version with `created: false`).
   */
  async register(artifact: ModelArtifact, opts: { name: string; createdBy: string }): Promise<{ name: string; version: number; created: boolean }> {
    const { name, createdBy } = opts;
    assertName(name);
    loadArtifact(artifact); // refuses what predict could not score
    const bytes = Buffer.from(JSON.stringify(artifact), 'utf8');
    const digest = sha256(bytes);
    return this.#db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`strata.ml_models:${name}`}))`.execute(tx);
      const same = await tx.selectFrom('ml_models').select('version').where('name', '=', name).where('artifact_sha256', '=', digest).executeTakeFirst();
      if (same) return { name, version: same.version, created: false };
      const last = await tx.selectFrom('ml_models').select((eb) => eb.fn.max('version').as('v')).where('name', '=', name).executeTakeFirst();
      const version = Number(last?.v ?? 0) + 1;
      const key = modelObjectKey(name, version);
      await this.#store.put(key, bytes, { contentType: 'application/json' });
      const metrics: StoredMetrics = { validation: artifact.metrics.validation, test: artifact.metrics.test, threshold: artifact.threshold };
      await tx
        .insertInto('ml_models')
        .values({
          name,
          version,
          kind: artifact.kind,
          object_key: key,
          artifact_sha256: digest,
          artifact_bytes: bytes.length,
          data_sha256: artifact.data.sha256,
          data_source: artifact.data.source,
          metrics: JSON.stringify(metrics),
          feature_names: JSON.stringify(featureNames(artifact.schema)),
          created_by: createdBy,
        })
        .execute();
      return { name, version, created: true };
    });
  }

  /** Every version of every name (or of one name), by name then version. */
  async list(name?: string): Promise<ModelRecord[]> {
    let q = this.#db.selectFrom('ml_models').selectAll().orderBy('name').orderBy('version');
    if (name !== undefined) q = q.where('name', '=', name);
    return (await q.execute()).map(toRecord);
  }

  /**
   * One version's row: `version` given, else the active one, else the latest. Throws
   * `STRATA_ERR_ML_MODEL_NOT_FOUND`.
   */
  async record(name: string, version?: number): Promise<ModelRecord> {
    assertName(name);
    let q = this.#db.selectFrom('ml_models').selectAll().where('name', '=', name);
    q = version !== undefined ? q.where('version', '=', version) : q.orderBy('active', 'desc').orderBy('version', 'desc').limit(1);
    const row = await q.executeTakeFirst();
    if (!row) throw mlErrors.STRATA_ERR_ML_MODEL_NOT_FOUND({ model: version === undefined ? name : `${name}@${version}` });
    return toRecord(row);
  }

  /** A version's row and its artifact, read from the store and checked against the row's sha256 (see `record` for the default version). */
  async get(name: string, version?: number): Promise<LoadedModel> {
    const record = await this.record(name, version);
    return { record, artifact: await this.#read(record) };
  }

  /**
   * Like `get` with a version, but an artifact already read and verified by this process is
   * answered from memory: artifacts never change, and the row's sha256 is part of the cache key.
   */
  async load(name: string, version?: number): Promise<LoadedModel> {
    const record = await this.record(name, version);
    return { record, artifact: await this.#cached(record) };
  }

  /**
   * Makes `version` the active one of `name` (checking its object first), in one transaction.
   * Activating the active version changes nothing. Returns the version active before.
   * `inTransaction` runs in the same transaction (an audit record of the switch).
   */
  async activate(name: string, version: number, opts: { inTransaction?: (tx: MlDb, previous: number | null) => Promise<void> } = {}): Promise<{ name: string; version: number; previous: number | null }> {
    const record = await this.record(name, version);
    await this.#cached(record); // never activate what cannot be loaded
    const previous = await this.#db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`strata.ml_models:${name}`}))`.execute(tx);
      const before = await tx.selectFrom('ml_models').select('version').where('name', '=', name).where('active', '=', true).executeTakeFirst();
      const previous = before?.version ?? null;
      if (previous !== version) {
        if (before) await tx.updateTable('ml_models').set({ active: false, activated: new Date() }).where('name', '=', name).where('version', '=', before.version).execute();
        await tx.updateTable('ml_models').set({ active: true, activated: new Date() }).where('name', '=', name).where('version', '=', version).execute();
      }
      await opts.inTransaction?.(tx, previous);
      return previous;
    });
    this.#active.delete(name);
    return { name, version, previous };
  }

  /**
   * The active version of `name` with its artifact; throws `STRATA_ERR_ML_NO_ACTIVE_MODEL`.
   * Cheap to call often (see the header).
   */
  async active(name: string = DEFAULT_MODEL_NAME): Promise<LoadedModel> {
    const model = await this.activeOrNone(name);
    if (!model) throw mlErrors.STRATA_ERR_ML_NO_ACTIVE_MODEL({ name });
    return model;
  }

  /** `active`, or undefined when no version of `name` is active. */
  async activeOrNone(name: string = DEFAULT_MODEL_NAME): Promise<LoadedModel | undefined> {
    const seen = this.#active.get(name);
    const now = this.#now();
    if (seen && now - seen.at < this.#maxAgeMs) return seen.model;
    const row = await this.#db.selectFrom('ml_models').selectAll().where('name', '=', name).where('active', '=', true).executeTakeFirst();
    const model = row ? { record: toRecord(row), artifact: await this.#cached(toRecord(row)) } : undefined;
    this.#active.set(name, { at: now, model });
    return model;
  }

  async #cached(record: ModelRecord): Promise<ModelArtifact> {
    const key = `${record.name}@${record.version}#${record.artifactSha256}`;
    const hit = this.#artifacts.get(key);
    if (hit) {
      this.#artifacts.delete(key);
      this.#artifacts.set(key, hit);
      return hit;
    }
    const artifact = await this.#read(record);
    this.#artifacts.set(key, artifact);
    while (this.#artifacts.size > this.#cacheSize) this.#artifacts.delete(this.#artifacts.keys().next().value!);
    return artifact;
  }

  async #read(record: ModelRecord): Promise<ModelArtifact> {
    const model = `${record.name}@${record.version}`;
    const bytes = await this.#store.get(record.objectKey);
    if (!bytes) throw mlErrors.STRATA_ERR_ML_INTEGRITY({ model, key: record.objectKey, reason: 'is missing from the object store' });
    const digest = sha256(bytes);
    if (digest !== record.artifactSha256) {
      throw mlErrors.STRATA_ERR_ML_INTEGRITY({ model, key: record.objectKey, reason: `has sha256 ${digest}, the registry recorded ${record.artifactSha256}: it was changed after registration`, expected: record.artifactSha256, actual: digest });
    }
    return loadArtifact(bytes.toString('utf8'));
  }
}
