/** What a key may do. `admin` implies every other scope; `metrics` is for Prometheus scrapers. */
export const SCOPES = ['admin', 'ingest', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** Who is calling, once a key has been verified. */
export interface Principal {
  keyId: string;
  scopes: readonly Scope[];
  /** Set for device-bound keys: the only device this key may write. */
  device?: string;
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes('admin') || principal.scopes.includes(scope);
}
