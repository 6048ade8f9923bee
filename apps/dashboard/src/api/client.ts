/**
 * The one way the dashboard talks to Strata: `/v1` with the signed-in user's access token.
 *
 * Tokens: the access token lives in memory only; the refresh token in sessionStorage (this tab,
 * until it closes), so a reload keeps the session. The access token is refreshed a minute before
 * it expires and once more on a 401; when that fails, `onSignedOut` sends the user to the login
 * page. No token ever goes in a URL: live streams are read with fetch (./sse.ts), not EventSource.
 */
import type { Tokens, User } from './types';

const REFRESH_KEY = 'strata.refresh';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: unknown[],
  ) {
    super(message);
  }
}

type Listener = (user: User | undefined) => void;

class Session {
  private access: string | undefined;
  private expiresAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<boolean> | undefined;
  private listeners = new Set<Listener>();
  user: User | undefined;

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(tokens: Tokens | undefined): void {
    clearTimeout(this.timer);
    if (!tokens) {
      this.access = undefined;
      this.user = undefined;
      sessionStorage.removeItem(REFRESH_KEY);
    } else {
      this.access = tokens.accessToken;
      this.expiresAt = Date.parse(tokens.expiresAt);
      this.user = tokens.user;
      sessionStorage.setItem(REFRESH_KEY, tokens.refreshToken);
      // A minute early (or half-way for short tokens), so no request meets an expired token.
      const lead = Math.min(60_000, (this.expiresAt - Date.now()) / 2);
      this.timer = setTimeout(() => void this.refresh(), Math.max(1000, this.expiresAt - Date.now() - lead));
    }
    for (const fn of this.listeners) fn(this.user);
  }

  async login(username: string, password: string): Promise<void> {
    const res = await fetch('/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    if (!res.ok) throw await errorOf(res);
    this.set((await res.json()) as Tokens);
  }

  /** Resumes a session from the refresh token of this tab, if any. */
  async resume(): Promise<boolean> {
    return sessionStorage.getItem(REFRESH_KEY) ? this.refresh() : false;
  }

  refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const refreshToken = sessionStorage.getItem(REFRESH_KEY);
      if (!refreshToken) return false;
      try {
        const res = await fetch('/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) });
        if (!res.ok) {
          this.set(undefined);
          return false;
        }
        this.set((await res.json()) as Tokens);
        return true;
      } catch {
        return false; // network: keep the session, the next call tries again
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  async logout(): Promise<void> {
    const refreshToken = sessionStorage.getItem(REFRESH_KEY);
    if (refreshToken && this.access) {
      await fetch('/v1/auth/logout', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${this.access}` }, body: JSON.stringify({ refreshToken }) }).catch(() => undefined);
    }
    this.set(undefined);
  }

  /** Authorization header for a request, refreshing first when the token is (nearly) expired. */
  async header(): Promise<Record<string, string>> {
    if (this.access && Date.now() > this.expiresAt - 5000) await this.refresh();
    return this.access ? { authorization: `Bearer ${this.access}` } : {};
  }
}

export const session = new Session();

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string }; issues?: unknown[] };
    return new ApiError(res.status, body.error?.code ?? 'UNKNOWN', body.error?.message ?? res.statusText, body.issues);
  } catch {
    return new ApiError(res.status, 'UNKNOWN', res.statusText);
  }
}

/** A `/v1` call as the signed-in user: JSON in and out; one refresh and retry on 401. */
export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const send = async (): Promise<Response> =>
    fetch(path, {
      method: init.method ?? 'GET',
      headers: { ...(await session.header()), ...(init.body !== undefined && { 'content-type': 'application/json' }) },
      ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
      ...(init.signal && { signal: init.signal }),
    });
  let res = await send();
  if (res.status === 401 && (await session.refresh())) res = await send();
  if (res.status === 401) await session.logout();
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A query string from defined values only. */
export function qs(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
