/** Shapes of the `/v1` answers the dashboard reads (see /openapi.json). */
export type Role = 'admin' | 'operator' | 'clinician' | 'analyst';
export type DeviceKind = 'machine' | 'patient' | 'sensor';
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

export interface User {
  id: string;
  username: string;
  role: Role;
}

export interface Tokens {
  accessToken: string;
  expiresAt: string;
  refreshToken: string;
  refreshExpiresAt: string;
  user: User;
}

export interface Device {
  id: string;
  kind: DeviceKind;
  name: string | null;
  metadata: Record<string, unknown>;
  tags: Record<string, string>;
  created: string;
  lastSeen: string | null;
}

export interface LatestValue {
  metric: string;
  ts: string;
  value: number;
  eventId: string;
}

/** `GET /v1/devices/:id/metrics`: the metrics with series (rollups). */
export interface DeviceMetrics {
  device: string;
  metrics: string[];
}

export interface Bucket {
  start: string;
  count: number;
  min: number | null;
  max: number | null;
  avg: number | null;
  stddev: number | null;
}

export interface Series {
  device: string;
  metric: string;
  from: string;
  to: string;
  stepSeconds: number;
  buckets: Bucket[];
}

/** `GET /v1/predictions/latest`: a device's latest failure prediction (latest values of the scoring role's metrics). */
export interface LatestPrediction {
  device: string;
  ts: string;
  probability: number;
  predicted: boolean | null;
  eventId: string;
}

/** `GET /v1/predictions?device=`: one prediction from the lake, with its model and top features. */
export interface Prediction {
  eventId: string;
  ts: string;
  model: string;
  probability: number;
  predicted: boolean;
  topFeatures: string[];
  receivedAt: string;
}

export interface TelemetryEvent {
  id: string;
  device: string;
  ts: string;
  metrics: Record<string, number>;
  tags?: Record<string, string>;
}

export interface Alert {
  id: string;
  ruleId: string;
  ruleVersion: number;
  device: string;
  deviceKind: string;
  severity: Severity;
  status: AlertStatus;
  title: string;
  metric: string | null;
  value: number | null;
  count: number;
  details: Record<string, unknown>;
  openedAt: string;
  lastAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  ackNote: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
  resolveNote: string | null;
}

export interface Overview {
  at: string;
  events: { perSecond: number; lastHour: { at: string; perSecond: number }[]; total: number };
  devices: { online: number; offline: number; onlineWithinSeconds: number; byKind: Record<string, number> };
  lag: { topic: string; group: string; records: number }[];
  alerts: Record<Severity, number> | null;
  storage: { streamBytes: number; databaseBytes: number | null; lakeBytes: number | null; lakeMeasuredAt: string | null };
}

export interface KeyInfo {
  id: string;
  name?: string | null;
  scopes: string[];
  device?: string | null;
  created?: string;
  expires?: string | null;
  revoked?: string | null;
  lastUsed?: string | null;
}

export interface UserInfo {
  id: string;
  username: string;
  role: Role;
  disabled?: boolean;
  created?: string;
}

export interface RuleView {
  id: string;
  version: number;
  origin: string;
  rule: Record<string, unknown>;
  [key: string]: unknown;
}

export interface QueryAnswer {
  columns: { name: string; type: string }[];
  rows: Record<string, unknown>[];
  rowCount: number;
  truncated: boolean;
  elapsedMs: number;
}
