import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allows, canSeeDevice, KEY_SCOPES, PERMISSIONS, visibleKinds, type Caller, type DeviceKind, type KeyScope, type Permission } from './policy.js';
import { ROLES, type Role } from './roles.js';

// Written out independently of PERMISSIONS: changing who may do what means changing both.
const ALL: Permission[] = [
  'ingest', 'devices:read', 'devices:write', 'telemetry:latest', 'telemetry:series', 'telemetry:live',
  'keys:manage', 'users:manage', 'audit:read', 'admin:ops', 'metrics:read', 'lake:query',
  'rules:read', 'rules:write', 'alerts:read', 'alerts:manage', 'notifications:manage', 'session',
  'records:read', 'records:anonymised', 'records:manage', 'ml:predict', 'ml:read', 'ml:manage',
];
const ROLE_ALLOWS: Record<Role, Permission[]> = {
  admin: ALL,
  operator: ['devices:read', 'devices:write', 'telemetry:latest', 'telemetry:series', 'telemetry:live', 'rules:read', 'rules:write', 'alerts:read', 'alerts:manage', 'notifications:manage', 'session', 'ml:predict', 'ml:read'],
  clinician: ['devices:read', 'telemetry:latest', 'telemetry:series', 'telemetry:live', 'rules:read', 'alerts:read', 'alerts:manage', 'session', 'records:read', 'records:anonymised'],
  analyst: ['devices:read', 'telemetry:series', 'lake:query', 'session', 'records:anonymised', 'ml:read'],
};
const SCOPE_ALLOWS: Record<KeyScope, Permission[]> = {
  admin: ALL.filter((p) => p !== 'session'),
  ingest: ['ingest'],
  read: ['devices:read', 'telemetry:latest', 'telemetry:series', 'telemetry:live', 'lake:query', 'rules:read', 'alerts:read', 'records:anonymised', 'ml:read'],
  predict: ['ml:predict'],
  metrics: ['metrics:read'],
};

const user = (role: Role): Caller => ({ kind: 'user', id: `u-${role}`, username: role, role });
const key = (scopes: KeyScope[], device?: string): Caller => ({ kind: 'key', id: 'k-1', scopes, ...(device !== undefined && { device }) });

describe('allows', () => {
  it('covers exactly the permissions, roles and scopes this test knows', () => {
    expect(Object.keys(PERMISSIONS).sort()).toEqual([...ALL].sort());
    expect(Object.keys(ROLE_ALLOWS).sort()).toEqual([...ROLES].sort());
    expect(Object.keys(SCOPE_ALLOWS).sort()).toEqual([...KEY_SCOPES].sort());
  });

  it('grants each role exactly its permissions', () => {
    for (const role of ROLES) {
      for (const permission of ALL) {
        expect(allows(user(role), permission), `${role} × ${permission}`).toBe(ROLE_ALLOWS[role].includes(permission));
      }
    }
  });

  it('grants each key scope exactly its permissions', () => {
    for (const scope of KEY_SCOPES) {
      for (const permission of ALL) {
        expect(allows(key([scope]), permission), `${scope} × ${permission}`).toBe(SCOPE_ALLOWS[scope].includes(permission));
      }
    }
  });

  it('grants a key with several scopes the union of them, and a key with none nothing', () => {
    fc.assert(
      fc.property(fc.subarray([...KEY_SCOPES]), fc.constantFrom(...ALL), (scopes, permission) => {
        expect(allows(key(scopes), permission)).toBe(scopes.some((s) => SCOPE_ALLOWS[s].includes(permission)));
      }),
    );
  });

  it('cannot be widened at run time', () => {
    expect(() => (PERMISSIONS['keys:manage'].roles as Role[]).push('analyst')).toThrow(TypeError);
    expect(allows(user('analyst'), 'keys:manage')).toBe(false);
  });
});

describe('device visibility', () => {
  const machine = { id: 'press-1', kind: 'machine' as const };
  const patient = { id: 'patient-9', kind: 'patient' as const };
  const sensor = { id: 'probe-3', kind: 'sensor' as const };

  it('shows each role its device kinds', () => {
    const expected: Record<Role, DeviceKind[]> = {
      admin: ['machine', 'patient', 'sensor'],
      operator: ['machine', 'sensor'],
      clinician: ['patient'],
      analyst: ['machine', 'sensor'],
    };
    for (const role of ROLES) {
      expect([...visibleKinds(user(role))].sort(), role).toEqual(expected[role]);
      for (const device of [machine, patient, sensor]) {
        expect(canSeeDevice(user(role), device), `${role} sees ${device.kind}`).toBe(expected[role].includes(device.kind));
      }
    }
  });

  it('shows keys that may read every kind, and keys that may not nothing', () => {
    expect([...visibleKinds(key(['read']))].sort()).toEqual(['machine', 'patient', 'sensor']);
    expect([...visibleKinds(key(['admin']))].sort()).toEqual(['machine', 'patient', 'sensor']);
    for (const scopes of [[], ['ingest'], ['metrics'], ['predict', 'ingest']] as KeyScope[][]) {
      expect(visibleKinds(key(scopes)), scopes.join()).toEqual([]);
      expect(canSeeDevice(key(scopes), machine)).toBe(false);
    }
  });

  it('shows a device-bound key its own device only, whatever its scopes', () => {
    expect(canSeeDevice(key(['read'], 'patient-9'), patient)).toBe(true);
    expect(canSeeDevice(key(['read'], 'patient-9'), machine)).toBe(false);
    expect(canSeeDevice(key(['admin'], 'patient-9'), { id: 'patient-10', kind: 'patient' })).toBe(false);
    expect(canSeeDevice(key(['ingest'], 'patient-9'), patient)).toBe(false); // bound, but may not read
  });
});
