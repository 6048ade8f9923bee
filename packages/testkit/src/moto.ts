/**
 * A moto server of its own for one test file (`moto_server`, on 127.0.0.1 and a free port), for
 * what the shared moto cannot do without changing it for every suite: chiefly IAM enforcement.
 * `env` goes to the server's environment; moto reads its settings from there. IAM enforcement:
 * `{ INITIAL_NO_AUTH_ACTION_COUNT: 'N' }` lets the first N AWS actions through unchecked, then
 * every action must be signed by the keys of an IAM user moto knows and be allowed by that user's
 * policies, else AccessDenied (403); `sts:GetCallerIdentity` is always allowed (moto 5.2.1:
 * moto/settings.py, moto/core/authorization.py, moto/iam/access_control.py). moto has no root keys
 * under enforcement: the N unchecked actions stand in for them (create the users and their keys),
 * so `'0'` enforces from the first call and nothing can be set up.
 *
 * Lifecycle: the server is our child process, stopped by PID (`close()` = SIGTERM, SIGKILL after
 * 5 s). As a last resort, servers still running when the test process exits get a SIGKILL from the
 * `exit` event. Its output is kept in memory for failure messages (`log()`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';

export interface MotoServer {
  /** `http://127.0.0.1:PORT`: one endpoint for every service. */
  endpoint: string;
  port: number;
  /** The server's PID while it runs. */
  pid(): number | undefined;
  /** The server's output so far (the end of it), for failure messages. */
  log(): string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it. Idempotent; call it in `afterAll`. */
  close(): Promise<void>;
}

export interface MotoOptions {
  /** Extra environment for the server (moto's settings), on top of this process's. */
  env?: Record<string, string>;
  /** Default 30 s: moto imports every service backend before it answers. */
  startTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts `moto_server -H 127.0.0.1 -p <free port>` and resolves once it answers HTTP. */
export async function startMoto(opts: MotoOptions = {}): Promise<MotoServer> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      output += `\n${err.message}`;
      resolve();
    });
  });
  void exited.then(() => running.delete(child));
  installExitHook();

  let closing: Promise<void> | undefined;
  const alive = () => child.exitCode === null && child.signalCode === null && running.has(child);
  const server: MotoServer = {
    endpoint,
    port,
    pid: () => (alive() ? child.pid : undefined),
    log: () => output.split('\n').slice(-30).join('\n'),
    close() {
      closing ??= (async () => {
        if (!alive()) return;
        child.kill('SIGTERM');
        const late = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(late);
      })();
      return closing;
    },
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  let last = '';
  while (Date.now() < deadline && alive()) {
    try {
      // Any HTTP answer means it listens (moto's own API answers without credentials).
      await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      return server;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await server.close();
  throw new Error(`moto_server on ${endpoint} did not answer (${alive() ? last : 'it exited'}): is moto installed (\`moto_server\` on PATH)?\n${server.log()}`);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL what is left (its state is test data).
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
