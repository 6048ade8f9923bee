import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { IngestService } from '../../service.js';

export interface HttpIngestOptions {
  service: IngestService;
  bodyLimitBytes: number;
}

const IngestReply = Type.Object({
  accepted: Type.Integer({ description: 'Events in the request, all durable in the stream.' }),
  duplicates: Type.Integer({ description: 'Of those, events whose client id was already in the stream (not written twice).' }),
});

/**
 * `POST /v1/ingest` and its seed-002 alias `POST /sensors`. The body reaches the parser as raw
 * bytes whatever its content type, so that one parser decides 400/413/415 with its own reasons.
 * Register inside its own encapsulated context (it replaces the content-type parsers).
 */
export async function httpIngestPlugin(app: FastifyInstance, opts: HttpIngestOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.bodyLimitBytes }, (_req, body, done) => done(null, body));
  const schema = {
    summary: 'Send telemetry: a JSON object or array, NDJSON, or SenML. Answers once every event is durable.',
    tags: ['ingest'],
    response: { 200: IngestReply },
  };
  for (const url of ['/v1/ingest', '/sensors']) {
    app.post(url, { schema, config: { permission: 'ingest' } }, async (req) =>
      opts.service.ingestBody((req.body as Buffer | undefined) ?? '', req.headers['content-type'], req.caller?.kind === 'key' ? req.caller : {}, 'http'),
    );
  }
}
