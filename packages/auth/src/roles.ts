/**
 * What a signed-in user is. `admin` may do everything; the others are read-mostly: operators run
 * machines and sensors, clinicians see patients, analysts study fleets (see policy.ts).
 */
export const ROLES = ['admin', 'operator', 'clinician', 'analyst'] as const;
export type Role = (typeof ROLES)[number];

/** Takes `unknown` so decoded token claims and request bodies can be checked as they come. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
