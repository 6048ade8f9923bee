import { Agent, request } from 'node:http';

export interface PacedResult {
  rate: number;
  sent: number;
  ok: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Open-loop load at a steady rate: request i is due at start + i/rate, whatever happened to the
 * earlier ones, and its latency is measured from when it was due (so a server that falls behind
 * is charged for the queue it causes, avoiding coordinated omission). autocannon's rate limit
 * instead fires each second's quota at once, which measures bursts, not a rate.
 */
export async function pacedLoad(opts: { url: string; headers: Record<string, string>; bodies: string[]; rate: number; seconds: number; sockets: number }): Promise<PacedResult> {
  const target = new URL(opts.url);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.sockets });
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const total = Math.round(opts.rate * opts.seconds);
  const start = performance.now();
  const inFlight: Promise<void>[] = [];

  const send = (i: number, due: number): Promise<void> =>
    new Promise((resolve) => {
      const body = opts.bodies[i % opts.bodies.length]!;
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { ...opts.headers, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - due);
            if (res.statusCode === 200) ok++;
            else failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(body);
    });

  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / opts.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(send(i, due));
    if (inFlight.length > 4096) await Promise.all(inFlight.splice(0, 2048));
  }
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 10) / 10;
  return { rate: opts.rate, sent: total, ok, failed, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}
