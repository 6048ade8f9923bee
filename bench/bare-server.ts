// The ceiling for the benchmarks: Fastify doing the HTTP part of a route and nothing else.
// bench:ingest: parses the same JSON bodies and answers 200. bench:api: answers a read with a
// constant body shaped like the real one (no auth, no database).
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 5 * 1024 * 1024 });
app.post('/v1/ingest', async (req) => ({ accepted: Array.isArray(req.body) ? req.body.length : 1 }));
const LATEST = { device: 'sensor-0001', values: ['temperature', 'humidity', 'vibration'].map((metric) => ({ metric, value: 21.5, ts: new Date().toISOString() })) };
app.get('/v1/devices/:id/latest', async () => LATEST);
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` }) + '\n');
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
