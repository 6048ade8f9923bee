/**
 * The registry's table as Kysely sees it (the SQL in @strata/db's migration 0005-ml is the
 * source of truth; this mirrors it).
 */
import type { ColumnType, Kysely } from 'kysely';
import type { ClassMetrics } from '../eval/metrics.js';

/** What the registry keeps of an artifact's metrics (the artifact has them too). */
export interface StoredMetrics {
  readonly validation: ClassMetrics;
  readonly test: ClassMetrics | null;
  readonly threshold: number;
}

export interface MlModelsTable {
  name: string;
  version: number;
  kind: string;
  object_key: string;
  artifact_sha256: string;
  artifact_bytes: number;
  data_sha256: string;
  data_source: string;
  metrics: ColumnType<StoredMetrics, string, string>;
  feature_names: ColumnType<string[], string, string>;
  created: ColumnType<Date, Date | undefined, never>;
  created_by: string;
  active: ColumnType<boolean, boolean | undefined, boolean>;
  activated: Date | null;
}

export interface MlTables {
  ml_models: MlModelsTable;
}

export type MlDb = Kysely<MlTables>;
