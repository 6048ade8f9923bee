import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthDirectory } from './directory.js';
import type { Sessions } from './sessions.js';
import type { RateLimiter } from './rate-limit.js';
import { presentedCredential } from './keys.js';
import { authErrors } from './errors.js';
import { allows, type Caller, type Permission } from './policy.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every non-public route. */
    caller?: Caller;
    /** When the caller's access token expires (Unix ms); unset for API keys. Long-lived answers (SSE) end then. */
    credentialExpiresAt?: number;
  }
  interface FastifyContextConfig {
    /** Routes are private by default: only `public: true` routes skip authentication. */
    public?: boolean;
    /** What the route does, in the policy's terms; every private route must name one. */
    permission?: Permission;
  }
}

export interface AuthHookOptions {
  directory: AuthDirectory;
  sessions: Sessions;
  /** Per key or user, on every API route but ingest. */
  limiter: RateLimiter;
  /** Per key, on ingest routes. */
  ingestLimiter: RateLimiter;
}

/** How the caller is named in audit records and rate-limit buckets. */
export function callerName(caller: Caller): string {
  return caller.kind === 'user' ? `user:${caller.username}` : `key:${caller.id}`;
}

/**
 * Secure by default: every route, unknown ones included, needs a valid API key or access token
 * whose holder the policy allows the route's permission, unless the route says
 * `config: { public: true }`. A route that names no permission fails at registration, so none
 * can be left open by omission. Call on the root instance before registering routes.
 */
export function installAuthHook(app: FastifyInstance, opts: AuthHookOptions): void {
  app.addHook('onRoute', (route) => {
    const config = route.config as { public?: boolean; permission?: Permission } | undefined;
    if (!config?.public && !config?.permission) throw new Error(`route ${route.method} ${route.url} names no permission (config.permission) and is not public`);
  });

  const admit = (req: FastifyRequest, caller: Caller, done: (err?: Error) => void): void => {
    req.caller = caller;
    // Unknown routes: a signed-in caller learns it is not there (404), nothing more.
    if (req.is404) return done();
    const permission = req.routeOptions.config.permission!;
    if (!allows(caller, permission)) return done(authErrors.STRATA_ERR_AUTH_FORBIDDEN({ reason: `${permission} is not allowed for ${describe(caller)}` }));
    const limiter = permission === 'ingest' ? opts.ingestLimiter : opts.limiter;
    const taken = limiter.take(callerName(caller));
    if (!taken.ok) return done(authErrors.STRATA_ERR_AUTH_RATE_LIMITED({ retryAfterSeconds: taken.retryAfterSeconds }));
    done();
  };

  // Callback style: no promise per request on the ingest path (keys are checked synchronously).
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.routeOptions.config.public) return done();
    const credential = presentedCredential(req.headers);
    if (!credential) return done(authErrors.STRATA_ERR_AUTH_MISSING_KEY());
    if (credential.startsWith('stk_')) {
      const caller = opts.directory.verifyKey(credential);
      return caller ? admit(req, caller, done) : done(authErrors.STRATA_ERR_AUTH_INVALID_KEY());
    }
    opts.sessions.verify(credential).then((claims) => {
      const caller = claims && opts.directory.userCaller(claims.sub);
      if (!caller) return done(authErrors.STRATA_ERR_AUTH_INVALID_TOKEN());
      req.credentialExpiresAt = claims.exp * 1000;
      admit(req, caller, done);
    }, done);
  });
}

function describe(caller: Caller): string {
  return caller.kind === 'user' ? `role ${caller.role}` : `a key with scopes ${caller.scopes.join(',')}`;
}
