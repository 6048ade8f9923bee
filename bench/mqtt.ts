/**
 * bench:mqtt — QoS 1 messages/s through Strata's embedded MQTT broker, where each PUBACK means
 * the message is parsed, validated and durable (fsync'd) in the embedded stream, against plain
 * mosquitto (which acknowledges from memory) under the same client load in the same run, so the
 * result is a ratio that survives a noisy shared machine. Loopback only, bounded in time.
 *
 *   npm run bench:mqtt [-- --seconds 10] [--clients 8] [--window 64] [--rounds 2] [--out none]
 *
 * Each side runs in its own process: mosquitto 2.0 (started through the test kit with the
 * project's settings: persistence on, max_queued_messages 100000; stopped after), and the
 * Strata broker (this file with --serve: `startMqttBroker` over a real `IngestService` on an
 * embedded stream in a temp dir, 4 partitions, as `strata start` composes them). The load runs
 * here: --clients mqtt.js clients (MQTT 3.1.1), one device each, each keeping --window QoS 1
 * publishes in flight; every message is one seed-002 JSON event (~110 bytes) on
 * `devices/{id}/telemetry`. Nobody subscribes. Runs alternate mosquitto / Strata (--rounds
 * times, after a short warm-up of each) so drift in machine load hits both alike; the figures
 * are the means. Latency = publish → PUBACK. CPU per message is each broker process's CPU time
 * (user + system) during a run over the messages it acknowledged: a second ratio, less
 * sensitive than throughput to other load on the machine.
 *
 * Writes bench/results/mqtt.json (--out none: print only).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { DEFAULT_INGEST_LIMITS } from '@strata/core';
import { IngestService, startMqttBroker } from '@strata/ingest';
import { openEmbeddedStream } from '@strata/stream';
import { startMosquitto, tempDir } from '@strata/testkit';
import { arg, int } from './args.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const PASSWORD = 'bench-key';
const TOPIC = 'telemetry';

/** The Strata side, in a process of its own: prints `{"port"}` once listening, `{"cpuSeconds"}` on SIGUSR2, `{"events"}` on SIGTERM, then exits. */
async function serve(): Promise<void> {
  const data = tempDir('bench-mqtt');
  const stream = await openEmbeddedStream({ dir: data.dir });
  await stream.ensureTopic(TOPIC, { partitions: 4 });
  const ingest = new IngestService({ stream, topic: TOPIC, limits: DEFAULT_INGEST_LIMITS });
  const rejected: Record<string, number> = {};
  const broker = await startMqttBroker({
    ingest,
    port: 0,
    authenticate: (_username, password) => (password?.toString() === PASSWORD ? {} : undefined),
    observer: { accepted: () => undefined, rejected: (reason) => void (rejected[reason] = (rejected[reason] ?? 0) + 1) },
  });
  console.log(JSON.stringify({ port: broker.port }));
  // Our stdin is a pipe from the bench: when it closes, the bench is gone (even killed): stop.
  process.stdin.resume();
  process.stdin.once('end', () => process.exit(1));
  process.on('SIGUSR2', () => {
    const cpu = process.cpuUsage();
    console.log(JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
  });
  process.once('SIGTERM', () => {
    void (async () => {
      await broker.close();
      const info = await stream.describe(TOPIC);
      const events = info.partitions.reduce((n, p) => n + p.endOffset - p.startOffset, 0);
      await stream.close();
      data.remove();
      console.log(JSON.stringify({ events, rejected }));
      process.exit(0);
    })();
  });
}

interface Run {
  messagesPerSec: number;
  acked: number;
  p50Ms: number;
  p99Ms: number;
  /** Broker CPU time (user + system) during the run per acknowledged message. */
  cpuUsPerMessage: number;
  errors: number;
}

/** A broker process's CPU time so far, in seconds. */
type CpuClock = () => Promise<number>;

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** CPU time of any process, from /proc (utime + stime). */
function procCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** One seed-002 event as a device would send it. */
function payload(device: string, seq: number): string {
  return JSON.stringify({ sensorId: device, temperature: Math.round((20 + (seq % 600) / 10) * 100) / 100, humidity: (seq % 1000) / 10, timestamp: new Date().toISOString() });
}

async function connectAll(url: string, clients: number, auth: boolean): Promise<MqttClient[]> {
  return Promise.all(
    Array.from({ length: clients }, (_, i) =>
      mqtt.connectAsync(url, { clientId: `bench-${i}`, clean: true, reconnectPeriod: 0, ...(auth && { username: `bench-${i}`, password: PASSWORD }) }),
    ),
  );
}

/** Every client keeps `window` QoS 1 publishes in flight for `seconds`; counts PUBACKs. */
async function load(url: string, auth: boolean, cpu: CpuClock, opts: { clients: number; window: number; seconds: number }): Promise<Run> {
  const clients = await connectAll(url, opts.clients, auth);
  const cpuBefore = await cpu();
  const latencies: number[] = [];
  let acked = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + opts.seconds * 1000;
  await Promise.all(
    clients.map(
      (client, c) =>
        new Promise<void>((resolve) => {
          const device = `bench-${c}`;
          const topic = `devices/${device}/telemetry`;
          let seq = 0;
          let inFlight = 0;
          const send = (): void => {
            const sent = performance.now();
            inFlight++;
            client.publish(topic, payload(device, seq++), { qos: 1 }, (err) => {
              inFlight--;
              const now = performance.now();
              if (err) errors++;
              else if (now <= deadline) {
                acked++;
                latencies.push(now - sent);
              }
              if (now < deadline && !err) send();
              else if (inFlight === 0) resolve();
            });
          };
          for (let i = 0; i < opts.window; i++) send();
        }),
    ),
  );
  const cpuSeconds = (await cpu()) - cpuBefore;
  await Promise.all(clients.map((c) => c.endAsync()));
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN) * 100) / 100;
  return { messagesPerSec: Math.round(acked / opts.seconds), acked, p50Ms: q(0.5), p99Ms: q(0.99), cpuUsPerMessage: Math.round((cpuSeconds * 1e7) / acked) / 10, errors };
}

async function startStrata(): Promise<{ child: ChildProcess; url: string; cpu: CpuClock; stop(): Promise<{ events: number; rejected: Record<string, number> }> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const messages: unknown[] = [];
  const waiting: ((m: unknown) => void)[] = [];
  lines.on('line', (line) => {
    const m: unknown = JSON.parse(line);
    const w = waiting.shift();
    if (w) w(m);
    else messages.push(m);
  });
  const next = (): Promise<unknown> => (messages.length > 0 ? Promise.resolve(messages.shift()) : new Promise((r) => waiting.push(r)));
  const { port } = (await next()) as { port: number };
  return {
    child,
    url: `mqtt://127.0.0.1:${port}`,
    async cpu() {
      child.kill('SIGUSR2');
      return ((await next()) as { cpuSeconds: number }).cpuSeconds;
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const summary = (await next()) as { events: number; rejected: Record<string, number> };
      await exited;
      return summary;
    },
  };
}

async function main(): Promise<void> {
  const seconds = int('seconds', 10, 1);
  const opts = { clients: int('clients', 8, 1), window: int('window', 64, 1), seconds };
  const rounds = int('rounds', 2, 1);
  const loadAtStart = loadavg()[0]!;
  const mosquitto = await startMosquitto();
  let strata: Awaited<ReturnType<typeof startStrata>> | undefined;
  let server: { events: number; rejected: Record<string, number> } | undefined;
  const runs: Record<string, Run[]> = { mosquitto: [], strata: [] };
  try {
    strata = await startStrata();
    console.log(`bench:mqtt ${seconds}s per run, ${opts.clients} clients × ${opts.window} in flight, QoS 1, ${rounds} round(s); ceiling = mosquitto 2.0`);
    const mosquittoPid = mosquitto.pid()!;
    const mosquittoCpu: CpuClock = async () => procCpu(mosquittoPid);
    await load(mosquitto.url, false, mosquittoCpu, { ...opts, seconds: 2 });
    await load(strata.url, true, strata.cpu, { ...opts, seconds: 2 });
    for (let r = 0; r < rounds; r++) {
      for (const [name, url, auth, cpu] of [['mosquitto', mosquitto.url, false, mosquittoCpu], ['strata', strata.url, true, strata.cpu]] as const) {
        const run = await load(url, auth, cpu, opts);
        runs[name]!.push(run);
        console.log(`${name}.round${r + 1}`.padEnd(20), JSON.stringify(run));
      }
    }
    server = await strata.stop();
  } finally {
    await mosquitto.close();
    if (!server) strata?.child.kill('SIGKILL');
  }
  const mean = (list: Run[], key: keyof Run): number => Math.round((list.reduce((n, run) => n + run[key], 0) / list.length) * 100) / 100;
  const summary = (list: Run[]) => ({
    messagesPerSec: Math.round(mean(list, 'messagesPerSec')),
    p50Ms: mean(list, 'p50Ms'),
    p99Ms: mean(list, 'p99Ms'),
    cpuUsPerMessage: mean(list, 'cpuUsPerMessage'),
    errors: list.reduce((n, run) => n + run.errors, 0),
  });
  const m = summary(runs.mosquitto!);
  const s = summary(runs.strata!);
  const ratio = Math.round((s.messagesPerSec / m.messagesPerSec) * 1000) / 1000;
  const cpuRatio = Math.round((s.cpuUsPerMessage / m.cpuUsPerMessage) * 100) / 100;
  const result = {
    bench: 'mqtt',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavg1: { start: Math.round(loadAtStart * 100) / 100, end: Math.round(loadavg()[0]! * 100) / 100 } },
    settings: { ...opts, rounds, qos: 1, protocol: 'MQTT 3.1.1', payload: 'one seed-002 JSON event per message', partitions: 4 },
    runs,
    mosquitto: m,
    strata: { ...s, eventsDurable: server.events, rejected: server.rejected },
    ratios: { strataVsMosquitto: ratio, cpuPerMessageVsMosquitto: cpuRatio },
    targets: { atLeast70PctOfMosquitto: ratio >= 0.7 },
  };
  if (arg('out') !== 'none') {
    mkdirSync(join(here, 'results'), { recursive: true });
    writeFileSync(join(here, 'results', 'mqtt.json'), JSON.stringify(result, null, 2) + '\n');
  }
  console.log(JSON.stringify({ mosquitto: m, strata: result.strata, ratios: result.ratios, targets: result.targets }, null, 2));
}

if (process.argv.includes('--serve')) await serve();
else await main();
