import { sql, type Kysely } from 'kysely';

/**
 * The model registry (issue 9). A model is an immutable artifact in the object store
 * (`ml/models/<name>/v<version>.json`, plain JSON, packages/ml) and one row here that names it,
 * with the sha256 of its bytes (checked on every load), the training data's hash and source,
 * its metrics and feature names. Versions count from 1 per name; at most one is active per name.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table ml_models (
      name text not null check (name ~ '^[a-z][a-z0-9_-]{0,63}$'),
      version integer not null check (version >= 1),
      kind text not null,
      object_key text not null,
      artifact_sha256 text not null check (artifact_sha256 ~ '^[0-9a-f]{64}$'),
      artifact_bytes integer not null,
      data_sha256 text not null,
      data_source text not null,
      -- {validation, test}: ClassMetrics each (test null without a held-out part), and the threshold.
      metrics jsonb not null,
      feature_names jsonb not null,
      created timestamptz not null default now(),
      created_by text not null,
      active boolean not null default false,
      -- When this row last became active or inactive: what a poller compares to see a switch.
      activated timestamptz,
      primary key (name, version)
    );
    create unique index ml_models_one_active on ml_models (name) where active;
  `.execute(db);
}
