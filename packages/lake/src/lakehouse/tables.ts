/**
 * Every lake table: where its files live, its columns, and who may query it. Files are
 * Hive-partitioned by event day (`dt=YYYY-MM-DD`, not stored in the files: readers get it from
 * the path). Column order here is the order in the files.
 */
import type { LakeLayer, QueryRole } from './types.js';

export interface TableSpec {
  /** View name in `strata sql` / `POST /v1/query`. */
  view: string;
  layer: LakeLayer;
  /** Manifest entry name within its layer. */
  name: string;
  /** Object key prefix; files are `<prefix>/dt=YYYY-MM-DD/<file>.parquet`. */
  prefix: string;
  /** DuckDB column definitions, without `dt`. */
  columns: ReadonlyArray<readonly [string, string]>;
  roles: readonly QueryRole[];
}

const BOTH: readonly QueryRole[] = ['admin', 'analyst'];
const ADMIN: readonly QueryRole[] = ['admin'];

export const TABLES: readonly TableSpec[] = [
  {
    view: 'bronze', layer: 'bronze', name: 'telemetry', prefix: 'bronze/telemetry', roles: ADMIN,
    columns: [['event_id', 'VARCHAR'], ['device_id', 'VARCHAR'], ['ts', 'TIMESTAMPTZ'], ['metric', 'VARCHAR'], ['value', 'DOUBLE'], ['unit', 'VARCHAR'], ['received_at', 'TIMESTAMPTZ'], ['source', 'VARCHAR'], ['raw_key', 'VARCHAR']],
  },
  {
    view: 'quarantine', layer: 'bronze', name: 'quarantine', prefix: 'quarantine/telemetry', roles: ADMIN,
    columns: [['raw_key', 'VARCHAR'], ['reason', 'VARCHAR'], ['event_id', 'VARCHAR'], ['device_id', 'VARCHAR'], ['metric', 'VARCHAR'], ['raw', 'VARCHAR']],
  },
  {
    // The scoring role's predictions (topic `predictions`), one row per prediction event: device
    // ids as they came, so admins only, like bronze. Analysts read gold_predictions_daily.
    view: 'predictions', layer: 'bronze', name: 'predictions', prefix: 'predictions', roles: ADMIN,
    columns: [['event_id', 'VARCHAR'], ['device_id', 'VARCHAR'], ['ts', 'TIMESTAMPTZ'], ['model', 'VARCHAR'], ['probability', 'DOUBLE'], ['predicted', 'BOOLEAN'], ['top_features', 'VARCHAR[]'], ['received_at', 'TIMESTAMPTZ']],
  },
  {
    view: 'predictions_quarantine', layer: 'bronze', name: 'predictions_quarantine', prefix: 'quarantine/predictions', roles: ADMIN,
    columns: [['raw_key', 'VARCHAR'], ['reason', 'VARCHAR'], ['event_id', 'VARCHAR'], ['device_id', 'VARCHAR'], ['metric', 'VARCHAR'], ['raw', 'VARCHAR']],
  },
  {
    view: 'silver', layer: 'silver', name: 'telemetry', prefix: 'silver/telemetry', roles: BOTH,
    columns: [['device_key', 'VARCHAR'], ['kind', 'VARCHAR'], ['site', 'VARCHAR'], ['model', 'VARCHAR'], ['metric', 'VARCHAR'], ['ts', 'TIMESTAMPTZ'], ['value', 'DOUBLE'], ['unit', 'VARCHAR'], ['received_at', 'TIMESTAMPTZ'], ['source', 'VARCHAR'], ['is_outlier', 'BOOLEAN'], ['is_late', 'BOOLEAN']],
  },
  {
    view: 'gold_hourly', layer: 'gold', name: 'hourly', prefix: 'gold/hourly', roles: BOTH,
    columns: [['device_key', 'VARCHAR'], ['kind', 'VARCHAR'], ['metric', 'VARCHAR'], ['hour', 'TIMESTAMPTZ'], ['count', 'BIGINT'], ['min', 'DOUBLE'], ['max', 'DOUBLE'], ['mean', 'DOUBLE'], ['stddev', 'DOUBLE'], ['p50', 'DOUBLE'], ['p95', 'DOUBLE']],
  },
  {
    view: 'gold_daily', layer: 'gold', name: 'daily', prefix: 'gold/daily', roles: BOTH,
    columns: [['device_key', 'VARCHAR'], ['kind', 'VARCHAR'], ['metric', 'VARCHAR'], ['day', 'DATE'], ['count', 'BIGINT'], ['min', 'DOUBLE'], ['max', 'DOUBLE'], ['mean', 'DOUBLE'], ['stddev', 'DOUBLE'], ['p50', 'DOUBLE'], ['p95', 'DOUBLE'], ['expected', 'BIGINT'], ['completeness', 'DOUBLE'], ['late', 'BIGINT'], ['outliers', 'BIGINT']],
  },
  {
    view: 'gold_fleet_daily', layer: 'gold', name: 'fleet_daily', prefix: 'gold/fleet_daily', roles: BOTH,
    columns: [['kind', 'VARCHAR'], ['day', 'DATE'], ['devices', 'BIGINT'], ['metrics', 'BIGINT'], ['samples', 'BIGINT'], ['late', 'BIGINT'], ['outliers', 'BIGINT'], ['mean_completeness', 'DOUBLE']],
  },
  {
    view: 'gold_predictions_daily', layer: 'gold', name: 'predictions_daily', prefix: 'gold/predictions_daily', roles: BOTH,
    columns: [['device_key', 'VARCHAR'], ['kind', 'VARCHAR'], ['model', 'VARCHAR'], ['day', 'DATE'], ['predictions', 'BIGINT'], ['predicted', 'BIGINT'], ['max_probability', 'DOUBLE'], ['mean_probability', 'DOUBLE'], ['last_probability', 'DOUBLE']],
  },
];

export function tableSpec(layer: LakeLayer, name: string): TableSpec {
  const spec = TABLES.find((t) => t.layer === layer && t.name === name);
  if (!spec) throw new Error(`no lake table ${layer}.${name}`);
  return spec;
}
