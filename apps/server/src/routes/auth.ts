import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { actorOf } from '../audit.js';
import { authErrors, RateLimiter, type Caller, type Sessions } from '@strata/auth';

const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);
const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });
const Tokens = Type.Object({
  accessToken: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  refreshToken: Type.String(),
  refreshExpiresAt: Type.String({ format: 'date-time' }),
  user: Type.Object({ id: Type.String(), username: Type.String(), role: Type.String() }),
});

/**
 * Sign-in for people (services and devices use API keys). Login and refresh are public but
 * rate-limited per client address, and login per username too, so guessing is slow whoever's
 * account is targeted and from however many addresses.
 */
export async function authRoutes(app: FastifyInstance, opts: { sessions: Sessions; loginAttemptsPerMinute: number }): Promise<void> {
  // Per account (guessing one password from many addresses) and per address (trying many
  // accounts from one): both must allow an attempt.
  const perMinute = opts.loginAttemptsPerMinute;
  const byUser = new RateLimiter({ perSecond: perMinute / 60, burst: perMinute });
  const byAddress = new RateLimiter({ perSecond: (perMinute * 5) / 60, burst: perMinute * 5 });
  const admit = (...checks: (() => ReturnType<RateLimiter['take']>)[]): void => {
    for (const check of checks) {
      const taken = check();
      if (!taken.ok) throw authErrors.STRATA_ERR_AUTH_RATE_LIMITED({ retryAfterSeconds: taken.retryAfterSeconds });
    }
  };

  app.post<{ Body: Static<typeof LoginBody> }>(
    '/v1/auth/login',
    { config: { public: true }, schema: { tags: ['auth'], summary: 'Sign in: username and password to access and refresh tokens', body: LoginBody, response: { 200: Tokens } } },
    async (req) => {
      admit(() => byAddress.take(req.ip), () => byUser.take(req.body.username.toLowerCase()));
      return opts.sessions.login(req.body.username, req.body.password, { ip: req.ip });
    },
  );

  app.post<{ Body: Static<typeof RefreshBody> }>(
    '/v1/auth/refresh',
    { config: { public: true }, schema: { tags: ['auth'], summary: 'New tokens for a refresh token (which is spent)', body: RefreshBody, response: { 200: Tokens } } },
    async (req) => {
      admit(() => byAddress.take(req.ip));
      return opts.sessions.refresh(req.body.refreshToken, { ip: req.ip });
    },
  );

  app.post<{ Body: Static<typeof RefreshBody> }>(
    '/v1/auth/logout',
    { config: { permission: 'session' }, schema: { tags: ['auth'], summary: 'End the session the refresh token belongs to', body: RefreshBody } },
    async (req, reply) => {
      await opts.sessions.logout(req.body.refreshToken, actorOf(req));
      return reply.code(204).send();
    },
  );

  app.get('/v1/auth/me', { config: { permission: 'session' }, schema: { tags: ['auth'], summary: 'Who the access token belongs to' } }, async (req) => {
    const { id, username, role } = req.caller as Extract<Caller, { kind: 'user' }>; // `session` admits users only
    return { id, username, role };
  });
}
