import type { FastifyInstance } from 'fastify';
import type { KeyStore } from './key-store.js';
import { presentedKey } from './key-store.js';
import { authErrors } from './errors.js';
import { hasScope, type Principal, type Scope } from './scopes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every non-public route. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Routes are private by default: only `public: true` routes skip the key check. */
    public?: boolean;
    /** Scope the key needs; routes that name none need `admin`. */
    scope?: Scope;
  }
}

/**
 * Secure by default: every route, including unknown ones, needs a valid key with the route's
 * scope (admin when it names none), unless the route says `config: { public: true }`.
 * Call on the root instance before registering routes.
 */
export function installAuthHook(app: FastifyInstance, keys: KeyStore): void {
  // Callback style: no promise per request on the ingest path.
  app.addHook('onRequest', (req, _reply, done) => {
    const config = req.routeOptions.config;
    if (config.public) return done();
    const key = presentedKey(req.headers);
    if (!key) return done(authErrors.STRATA_ERR_AUTH_MISSING_KEY());
    const principal = keys.verify(key);
    if (!principal) return done(authErrors.STRATA_ERR_AUTH_INVALID_KEY());
    const scope = config.scope ?? 'admin';
    if (!hasScope(principal, scope)) return done(authErrors.STRATA_ERR_AUTH_FORBIDDEN_SCOPE({ scope }));
    req.principal = principal;
    done();
  });
}
