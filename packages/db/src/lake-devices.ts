import { sql } from 'kysely';
// Type only: the lake never imports the operational store, so this adds no cycle.
import type { DeviceMeta } from '@strata/lake';
import type { Db } from './open.js';

/** A metadata or tag value as the lake takes it: text, or a finite number written as text. */
function text(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/**
 * What the lake's silver job takes from the devices table, for every device: `site` and `model`
 * from the device's metadata, else from its latest tags, else null; `sampleIntervalSeconds` from
 * metadata when it is a positive number. Only those keys leave the database, not whole documents.
 */
export async function lakeDevices(db: Db): Promise<DeviceMeta[]> {
  const rows = await db.kysely
    .selectFrom('devices')
    .select([
      'id',
      'kind',
      sql<unknown>`metadata -> 'site'`.as('metadata_site'),
      sql<unknown>`tags -> 'site'`.as('tags_site'),
      sql<unknown>`metadata -> 'model'`.as('metadata_model'),
      sql<unknown>`tags -> 'model'`.as('tags_model'),
      sql<unknown>`metadata -> 'sampleIntervalSeconds'`.as('interval'),
    ])
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    site: text(r.metadata_site) ?? text(r.tags_site),
    model: text(r.metadata_model) ?? text(r.tags_model),
    sampleIntervalSeconds: typeof r.interval === 'number' && Number.isFinite(r.interval) && r.interval > 0 ? r.interval : null,
  }));
}
