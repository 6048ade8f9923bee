import { createContext, useContext } from 'react';
import type { Role, User } from './api/types';

export const UserContext = createContext<User | undefined>(undefined);

export function useUser(): User {
  const user = useContext(UserContext);
  if (!user) throw new Error('useUser outside a signed-in page');
  return user;
}

/**
 * What each role may do in the UI: the same matrix as packages/auth (policy.ts), for showing and
 * hiding. The server enforces it whatever the UI shows.
 */
const CAN = {
  'devices:write': ['admin', 'operator'],
  'telemetry:live': ['admin', 'operator', 'clinician'],
  'telemetry:latest': ['admin', 'operator', 'clinician'],
  'alerts:read': ['admin', 'operator', 'clinician'],
  'alerts:manage': ['admin', 'operator', 'clinician'],
  'rules:read': ['admin', 'operator', 'clinician'],
  'rules:write': ['admin', 'operator'],
  'lake:query': ['admin', 'analyst'],
  'keys:manage': ['admin'],
  'users:manage': ['admin'],
  'patients': ['admin', 'clinician'],
  'machines': ['admin', 'operator', 'analyst'],
} as const satisfies Record<string, readonly Role[]>;

export type Capability = keyof typeof CAN;

export function can(user: User, what: Capability): boolean {
  return (CAN[what] as readonly Role[]).includes(user.role);
}
