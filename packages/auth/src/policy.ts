/**
 * The one access matrix: every route names a permission, and `allows` decides it from this table
 * alone, for API keys (by scope) and signed-in users (by role). "Admin implies everything" is
 * written out, the admin role and scope in every row, so what the table shows is exactly what is
 * enforced, and a new row that forgets admin fails the matrix test. The one exception: `session`
 * (refresh, me, logout) is for users only, since a key has no session, so not even admin keys have it.
 *
 * Reading devices and telemetry is further narrowed by device kind (`visibleKinds`) and, for
 * device-bound keys, to the one device (`canSeeDevice`).
 */
import { DEVICE_KINDS, type DeviceKind } from '@strata/core';

export type { DeviceKind };
import type { Role } from './roles.js';

/** What an API key may do. `predict` is reserved for the model-serving routes. */
export const KEY_SCOPES = ['admin', 'ingest', 'read', 'predict', 'metrics'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

export function isKeyScope(value: unknown): value is KeyScope {
  return typeof value === 'string' && (KEY_SCOPES as readonly string[]).includes(value);
}


export type Permission =
  | 'ingest'
  | 'devices:read'
  | 'devices:write'
  | 'telemetry:latest'
  | 'telemetry:series'
  | 'telemetry:live'
  | 'keys:manage'
  | 'users:manage'
  | 'audit:read'
  | 'admin:ops'
  | 'metrics:read'
  | 'lake:query'
  | 'rules:read'
  | 'rules:write'
  | 'alerts:read'
  | 'alerts:manage'
  | 'notifications:manage'
  | 'records:read'
  | 'records:anonymised'
  | 'records:manage'
  | 'ml:predict'
  | 'ml:read'
  | 'ml:manage'
  | 'session';

export type Caller =
  | { kind: 'key'; id: string; scopes: readonly KeyScope[]; /** The only device this key may touch. */ device?: string }
  | { kind: 'user'; id: string; username: string; role: Role };

export interface Grant {
  readonly roles: readonly Role[];
  readonly scopes: readonly KeyScope[];
}

const ALL_ROLES = ['admin', 'operator', 'clinician', 'analyst'] as const satisfies readonly Role[];

export const PERMISSIONS: Readonly<Record<Permission, Grant>> = deepFreeze({
  //                    roles                                     scopes
  'ingest':           { roles: ['admin'],                         scopes: ['admin', 'ingest'] },
  'devices:read':     { roles: ALL_ROLES,                         scopes: ['admin', 'read'] },
  'devices:write':    { roles: ['admin', 'operator'],             scopes: ['admin'] },
  'telemetry:latest': { roles: ['admin', 'operator', 'clinician'], scopes: ['admin', 'read'] },
  'telemetry:series': { roles: ALL_ROLES,                         scopes: ['admin', 'read'] },
  'telemetry:live':   { roles: ['admin', 'operator', 'clinician'], scopes: ['admin', 'read'] },
  'keys:manage':      { roles: ['admin'],                         scopes: ['admin'] },
  'users:manage':     { roles: ['admin'],                         scopes: ['admin'] },
  'audit:read':       { roles: ['admin'],                         scopes: ['admin'] },
  'admin:ops':        { roles: ['admin'],                         scopes: ['admin'] },
  'metrics:read':     { roles: ['admin'],                         scopes: ['admin', 'metrics'] },
  'lake:query':       { roles: ['admin', 'analyst'],              scopes: ['admin', 'read'] },
  'rules:read':       { roles: ['admin', 'operator', 'clinician'], scopes: ['admin', 'read'] },
  'rules:write':      { roles: ['admin', 'operator'],             scopes: ['admin'] },
  'alerts:read':      { roles: ['admin', 'operator', 'clinician'], scopes: ['admin', 'read'] },
  'alerts:manage':    { roles: ['admin', 'operator', 'clinician'], scopes: ['admin'] },
  'notifications:manage': { roles: ['admin', 'operator'],         scopes: ['admin'] },
  // Patient records: identified for clinicians, anonymised for analysts; import, GDPR export
  // and erasure for admins. No key scope but admin reads identified patients.
  'records:read':     { roles: ['admin', 'clinician'],            scopes: ['admin'] },
  'records:anonymised': { roles: ['admin', 'clinician', 'analyst'], scopes: ['admin', 'read'] },
  'records:manage':   { roles: ['admin'],                         scopes: ['admin'] },
  // Predictive maintenance (issue 9): scoring for operators and `predict` keys (seed 004's
  // X-API-Key), the registry's metadata for analysts too, activating a version for admins.
  'ml:predict':       { roles: ['admin', 'operator'],             scopes: ['admin', 'predict'] },
  'ml:read':          { roles: ['admin', 'operator', 'analyst'],  scopes: ['admin', 'read'] },
  'ml:manage':        { roles: ['admin'],                         scopes: ['admin'] },
  'session':          { roles: ALL_ROLES,                         scopes: [] },
});

/** The table decides access, so nothing that imports it may edit it. */
function deepFreeze<T extends Record<string, Grant>>(table: T): T {
  for (const grant of Object.values(table)) {
    Object.freeze(grant.roles);
    Object.freeze(grant.scopes);
    Object.freeze(grant);
  }
  return Object.freeze(table);
}

export function allows(caller: Caller, permission: Permission): boolean {
  const grant = PERMISSIONS[permission];
  if (caller.kind === 'user') return grant.roles.includes(caller.role);
  return caller.scopes.some((scope) => grant.scopes.includes(scope));
}

const KINDS_BY_ROLE: Readonly<Record<Role, readonly DeviceKind[]>> = Object.freeze({
  admin:     DEVICE_KINDS,
  operator:  ['machine', 'sensor'],
  clinician: ['patient'],
  analyst:   ['machine', 'sensor'], // patients only pseudonymised, which is not built yet
});

/** Device kinds whose devices and telemetry the caller may read. */
export function visibleKinds(caller: Caller): readonly DeviceKind[] {
  if (caller.kind === 'user') return KINDS_BY_ROLE[caller.role];
  return caller.scopes.includes('admin') || caller.scopes.includes('read') ? DEVICE_KINDS : [];
}

/** Whether the caller may read this device: its kind is visible, and a device-bound key is bound to it (whatever its scopes). */
export function canSeeDevice(caller: Caller, device: { id: string; kind: DeviceKind }): boolean {
  if (caller.kind === 'key' && caller.device !== undefined && caller.device !== device.id) return false;
  return visibleKinds(caller).includes(device.kind);
}
