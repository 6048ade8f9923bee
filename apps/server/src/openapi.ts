import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

export const DOCS_PREFIX = '/docs';

/**
 * The OpenAPI 3.1 document, generated from the routes' own TypeBox schemas, at `/openapi.json`,
 * and a Swagger UI page at `/docs` (served from the npm package: no CDN). Both are public: they
 * describe the API and hold no data. Register before the routes so every route is collected.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  // The UI's own routes (page, assets, its copy of the document) cannot carry our route config.
  app.addHook('onRoute', (route) => {
    if (route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`)) route.config = { ...route.config, public: true };
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Strata API', version, description: 'IoT and health-data platform. Authenticate with an API key (`Authorization: Bearer stk_...` or `X-API-Key`) or a user access token from `POST /v1/auth/login`.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API key (stk_...) or access token (JWT)' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    // Each operation says what it needs: the policy permission (see @strata/auth), or no
    // security at all for the public ones. The security tests walk the document with it.
    transform: ({ schema, url, route }) => {
      const config = (route.config ?? {}) as { public?: boolean; permission?: string };
      const extra = config.public ? { security: [], 'x-strata-permission': 'public' } : { 'x-strata-permission': config.permission };
      return { schema: { ...schema, ...extra } as typeof schema, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
}
