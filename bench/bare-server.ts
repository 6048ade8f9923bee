// The ceiling for bench:ingest: Fastify parsing the same JSON bodies and answering 200, nothing else.
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 5 * 1024 * 1024 });
app.post('/v1/ingest', async (req) => ({ accepted: Array.isArray(req.body) ? req.body.length : 1 }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` }) + '\n');
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
