/**
 * The `web` role: the dashboard's static files (apps/dashboard/dist, built by Vite) at `/`.
 *
 * - Public: the files hold no data; every figure the dashboard shows comes through the
 *   authenticated API. Hidden from the OpenAPI document (they are not API routes).
 * - `index.html` is `no-cache` (a new build is picked up at once); files under `/assets/` carry a
 *   content hash in their names, so they are `immutable` for a year.
 * - Precompressed: the build writes `.br` and `.gz` next to each text file and the answer is the
 *   smallest one the browser accepts (no compression work per request).
 * - SPA fallback: any other GET of a page-like path (no file extension, not an API prefix) gets
 *   `index.html`. API-like unknown paths (`/v1/...`) keep the API's behaviour: credentials are
 *   checked first (401 without), then 404, so the fallback reveals nothing about the API.
 * - Not built (a fresh clone before `npm run build:dashboard`): `/` answers a short page saying so.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import { authErrors, presentedCredential, type AuthDirectory, type Sessions } from '@strata/auth';
import { httpErrors } from './errors.js';

/** Where `npm run build:dashboard` writes the dashboard (apps/dashboard/dist). */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));

export interface WebRoutesOptions {
  /** The built dashboard: index.html and assets/. */
  root: string;
  /** To answer unknown API paths as the API would (401 before 404). */
  directory: AuthDirectory;
  sessions: Sessions;
}

/** Paths the dashboard never owns: unknown ones are the API's unknown routes. */
const API_PREFIXES = ['/v1/', '/v1', '/docs', '/openapi', '/metrics', '/sensors', '/health', '/ready', '/assets/'];
const IMMUTABLE = 'public, max-age=31536000, immutable';
const NO_CACHE = 'no-cache';

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Strata</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto;line-height:1.5">
<h1>Strata</h1><p>The dashboard is not built. Run <code>npm run build:dashboard</code> (or <code>npm start</code>, which builds it) and reload.</p>
<p>The API is up: <a href="/docs">/docs</a>.</p></body></html>`;

export async function webRoutes(app: FastifyInstance, opts: WebRoutesOptions): Promise<void> {
  const route = { config: { public: true }, schema: { hide: true } } as const;
  const built = existsSync(join(opts.root, 'index.html'));
  if (!built) {
    app.get('/', route, async (_req, reply) => reply.header('cache-control', NO_CACHE).type('text/html; charset=utf-8').send(NOT_BUILT));
    return;
  }
  await app.register(fastifyStatic, { root: opts.root, serve: false, preCompressed: true, cacheControl: false, etag: true, lastModified: true });

  // Every answer depends on Accept-Encoding (precompressed variants): caches must key on it.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('vary', 'accept-encoding');
  });
  const sendIndex = (reply: FastifyReply): FastifyReply => reply.header('cache-control', NO_CACHE).sendFile('index.html');
  app.get('/', route, async (_req, reply) => sendIndex(reply));
  app.get('/index.html', route, async (_req, reply) => sendIndex(reply));
  app.get<{ Params: { '*': string } }>('/assets/*', route, async (req, reply) => {
    const file = req.params['*'];
    // Only files that exist: `send` refuses `..`, and a miss is an ordinary 404.
    if (!isFile(join(opts.root, 'assets', file))) throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: req.method, url: `/assets/${file}` });
    return reply.header('cache-control', IMMUTABLE).sendFile(`assets/${file}`);
  });
  // Top-level files of the build other than index.html (favicon...).
  app.get<{ Params: { '*': string } }>('/*', route, async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (API_PREFIXES.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`))) return unknownApiRoute(req, opts);
    const last = path.slice(path.lastIndexOf('/') + 1);
    if (last.includes('.')) {
      if (!last.includes('..') && path.lastIndexOf('/') === 0 && isFile(join(opts.root, last))) return reply.header('cache-control', 'public, max-age=3600').sendFile(last);
      throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: req.method, url: path });
    }
    return sendIndex(reply);
  });
}

/** What the API answers on a path it does not have: 401 without valid credentials, else 404. */
async function unknownApiRoute(req: FastifyRequest, opts: WebRoutesOptions): Promise<never> {
  const credential = presentedCredential(req.headers);
  if (!credential) throw authErrors.STRATA_ERR_AUTH_MISSING_KEY();
  if (credential.startsWith('stk_')) {
    if (!opts.directory.verifyKey(credential)) throw authErrors.STRATA_ERR_AUTH_INVALID_KEY();
  } else {
    const claims = await opts.sessions.verify(credential);
    if (!claims || !opts.directory.userCaller(claims.sub)) throw authErrors.STRATA_ERR_AUTH_INVALID_TOKEN();
  }
  throw httpErrors.STRATA_ERR_HTTP_NOT_FOUND({ method: req.method, url: req.url.split('?')[0] });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
