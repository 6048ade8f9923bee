/**
 * The operational store's tables, as Kysely sees them. Names and columns are the contract with
 * the migrations in ./migrations (the SQL there is the source of truth; this mirrors it).
 *
 * Times are `timestamptz` (Date in, Date out). `int8` columns come back as JS numbers (counts
 * and offsets stay far below 2^53). JSON columns are written as JSON text.
 */
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { DeviceKind } from '@strata/core';

// The device model is core's; re-exported so repositories and routes need one import.
export { DEVICE_KINDS, type DeviceKind } from '@strata/core';


export type Json = Record<string, unknown>;
/** A JSON column: an object when read, JSON text when written. */
type JsonColumn<T = Json> = ColumnType<T, string, string>;
/** Set by the database on insert, never updated by hand. */
type CreatedAt = ColumnType<Date, Date | undefined, never>;

export interface DevicesTable {
  id: string;
  kind: DeviceKind;
  name: string | null;
  metadata: JsonColumn;
  /** Latest tags seen on the device's events (merged), for `tag=key:value` filters. */
  tags: JsonColumn<Record<string, string>>;
  created: CreatedAt;
  last_seen: Date | null;
}

export interface LatestValuesTable {
  device: string;
  metric: string;
  ts: Date;
  value: number;
  event_id: string;
}

/** One row per device, metric and UTC minute; partitioned by day (`rollups_1m_YYYYMMDD`). */
export interface Rollups1mTable {
  device: string;
  metric: string;
  minute: Date;
  count: number;
  min: number;
  max: number;
  sum: number;
  sum_sq: number;
}

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  role: string;
  disabled: Generated<boolean>;
  created: CreatedAt;
  updated: Generated<Date>;
  last_login: Date | null;
}

export interface ApiKeysTable {
  id: string;
  /** SHA-256 of the whole key. */
  hash: Buffer;
  name: string | null;
  scopes: string[];
  device: string | null;
  created: CreatedAt;
  expires: Date | null;
  revoked: Date | null;
  created_by: string | null;
}

export interface RefreshTokensTable {
  id: string;
  user_id: string;
  /** SHA-256 of the token. */
  hash: Buffer;
  /** Tokens rotated from one login share a family: reuse of a rotated token revokes it all. */
  family: string;
  created: CreatedAt;
  expires: Date;
  used: Date | null;
  revoked: Date | null;
}

/** Append-only (a trigger refuses UPDATE, DELETE and TRUNCATE). */
export interface AuditLogTable {
  id: Generated<number>;
  at: Generated<Date>;
  /** `user:<username>`, `key:<id>` or `system`. */
  actor: string;
  action: string;
  resource: string;
  outcome: 'success' | 'denied' | 'failure';
  ip: string | null;
  details: JsonColumn | null;
}

/** Where each consumer that writes here has got to, committed in the same transaction as its writes. */
export interface ConsumerOffsetsTable {
  consumer: string;
  topic: string;
  partition: number;
  next_offset: number;
}

/** Small named values the platform keeps for itself (the JWT signing secret, a change counter). */
export interface SettingsTable {
  key: string;
  value: string;
}

/** Rules made through the API (current version); `rule_versions` keeps every version of every origin. */
export interface RulesTable {
  id: string;
  version: number;
  definition: JsonColumn;
  deleted: ColumnType<boolean, boolean | undefined, boolean>;
  updated: ColumnType<Date, Date | undefined, Date>;
  updated_by: string;
}

export interface RuleVersionsTable {
  rule_id: string;
  version: number;
  definition: JsonColumn;
  origin: 'api' | 'file' | 'preset';
  created: CreatedAt;
  created_by: string;
}

export interface AlertsTable {
  id: string;
  rule_id: string;
  rule_version: number;
  device_id: string;
  device_kind: DeviceKind;
  severity: 'info' | 'low' | 'medium' | 'high' | 'critical';
  status: 'open' | 'acknowledged' | 'resolved';
  title: string;
  metric: string | null;
  value: number | null;
  details: ColumnType<Json, string | undefined, string>;
  count: ColumnType<number, number | undefined, number>;
  opened_at: Date;
  last_at: Date;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  ack_note: string | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  resolve_note: string | null;
  updated: ColumnType<Date, Date | undefined, Date>;
}

/** Alert events waiting to be appended to the alerts topic. */
export interface AlertOutboxTable {
  seq: Generated<number>;
  event: JsonColumn;
}

export interface RuleSnapshotsTable {
  consumer: string;
  topic: string;
  partition: number;
  next_offset: number;
  state: Uint8Array;
  taken: ColumnType<Date, Date | undefined, Date>;
}

export interface NotificationsTable {
  id: string;
  event_id: string;
  alert_id: string;
  channel: string;
  status: 'pending' | 'delivered' | 'dead' | 'cancelled';
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt: Date;
  last_error: string | null;
  payload: JsonColumn;
  created: CreatedAt;
  updated: ColumnType<Date, Date | undefined, Date>;
}

export interface Database {
  devices: DevicesTable;
  latest_values: LatestValuesTable;
  rollups_1m: Rollups1mTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  refresh_tokens: RefreshTokensTable;
  audit_log: AuditLogTable;
  consumer_offsets: ConsumerOffsetsTable;
  settings: SettingsTable;
  rules: RulesTable;
  rule_versions: RuleVersionsTable;
  alerts: AlertsTable;
  alert_outbox: AlertOutboxTable;
  rule_snapshots: RuleSnapshotsTable;
  notifications: NotificationsTable;
}

export type Device = Selectable<DevicesTable>;
export type NewDevice = Insertable<DevicesTable>;
export type User = Selectable<UsersTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type AuditRecord = Selectable<AuditLogTable>;
export type AlertRow = Selectable<AlertsTable>;
export type NotificationRow = Selectable<NotificationsTable>;
