/**
 * Real nats-server processes (JetStream on) per test file, on 127.0.0.1 and free ports: one
 * server, or a 3-node cluster (`{ cluster: 3 }`) whose JetStream streams can be replicated 3 ways.
 * `maxFileStore` (default `1P`) is JetStream's storage limit (`max_file_store`, e.g. `1G`).
 *
 * Layout: `dir` is a new directory under the OS temp dir (`strata-nats-XXXXXX`); node i keeps its
 * config in `dir/n<i>.conf`, its JetStream store in `dir/n<i>/` and its log in `dir/n<i>.log`.
 * Server names are `n0`, `n1`, `n2` (what JetStream reports as a stream's leader).
 *
 * Lifecycle: servers are child processes, stopped by PID (`stop` = SIGTERM, a clean shutdown;
 * `kill` = SIGKILL, a crash). Tests call `close()` in `afterAll`; as a last resort, servers still
 * running when the test process exits get a SIGKILL from the `exit` event (their dir stays behind).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

const BIN = '/usr/sbin/nats-server';

export interface NatsServers {
  /** Client URLs, one per node (`nats://127.0.0.1:PORT`): pass them all to a client. */
  servers: string[];
  /** Monitoring URLs, one per node (`http://127.0.0.1:PORT`: /varz, /jsz, /healthz). */
  monitors: string[];
  /** The temp dir holding every node's config, store and log. */
  dir: string;
  /** Clean shutdown (SIGTERM) of node `i` (default: every node); waits for the exit. No-op when not running. */
  stop(i?: number): Promise<void>;
  /** Starts node `i` (default: every stopped node) again on its ports and store, and waits until JetStream is healthy. */
  start(i?: number): Promise<void>;
  /** SIGKILL of node `i` (a crash); waits for the exit. No-op when not running. */
  kill(i: number): Promise<void>;
  /** True while node `i` runs. */
  running(i: number): boolean;
  /** Index of the node leading JetStream stream `stream` (account $G) now, or undefined when none does. */
  streamLeader(stream: string): Promise<number | undefined>;
  /** The end of node `i`'s log, for failure messages. */
  log(i: number): string;
  /** Stops every node and removes the dir. Idempotent; call it in `afterAll`. */
  close(): Promise<void>;
}

interface Node {
  name: string;
  port: number;
  monitorPort: number;
  clusterPort: number;
  conf: string;
  logFile: string;
  child: ChildProcess | null;
  exited: Promise<void> | null;
}

/** Children of every NatsServers this process started and has not stopped yet. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts one nats-server (or a 3-node cluster with `{ cluster: 3 }`) with JetStream and resolves
 * once every node reports itself healthy (/healthz: JetStream enabled and, in a cluster, current
 * with the meta leader).
 */
export async function startNats(opts: { cluster?: 3; maxFileStore?: string } = {}): Promise<NatsServers> {
  if (!existsSync(BIN)) throw new Error(`nats-server is not installed (${BIN} is missing): run \`bash scripts/engines.sh install\``);
  const count = opts.cluster ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'strata-nats-'));
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push({
      name: `n${i}`,
      port: await freePort(),
      monitorPort: await freePort(),
      clusterPort: count > 1 ? await freePort() : 0,
      conf: join(dir, `n${i}.conf`),
      logFile: join(dir, `n${i}.log`),
      child: null,
      exited: null,
    });
  }
  for (const [i, node] of nodes.entries()) {
    const store = join(dir, node.name);
    mkdirSync(store);
    const lines = [
      `server_name: ${node.name}`,
      `listen: "127.0.0.1:${node.port}"`,
      `http: "127.0.0.1:${node.monitorPort}"`,
      // JetStream reserves every stream's max_bytes up front; tests create many streams with
      // Strata's default 10 GiB cap, so the default limit here is far above the disk.
      `jetstream { store_dir: ${JSON.stringify(store)}, max_file_store: ${opts.maxFileStore ?? '1P'} }`,
    ];
    if (count > 1) {
      const routes = nodes.filter((_, j) => j !== i).map((n) => `"nats://127.0.0.1:${n.clusterPort}"`);
      lines.push(`cluster { name: strata_test, listen: "127.0.0.1:${node.clusterPort}", routes: [${routes.join(', ')}] }`);
    }
    writeFileSync(node.conf, `${lines.join('\n')}\n`);
  }

  let closing: Promise<void> | undefined;
  let closed = false;
  const indexes = (i: number | undefined): number[] => {
    if (i === undefined) return nodes.map((_, j) => j);
    if (!nodes[i]) throw new Error(`no nats node ${i} (there are ${nodes.length})`);
    return [i];
  };
  const isRunning = (n: Node): boolean => n.child !== null;

  const launch = (node: Node): void => {
    const fd = openSync(node.logFile, 'a');
    const child = spawn(BIN, ['-c', node.conf], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    node.child = child;
    running.add(child);
    node.exited = new Promise((resolve) =>
      child.once('exit', () => {
        running.delete(child);
        if (node.child === child) node.child = null;
        resolve();
      }),
    );
  };

  const signal = async (node: Node, sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    const child = node.child;
    if (!child) return;
    const exited = node.exited!;
    child.kill(sig);
    const late = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(late);
  };

  const servers: NatsServers = {
    servers: nodes.map((n) => `nats://127.0.0.1:${n.port}`),
    monitors: nodes.map((n) => `http://127.0.0.1:${n.monitorPort}`),
    dir,
    async start(i) {
      if (closed) throw new Error('these nats servers are closed');
      const todo = indexes(i).map((j) => nodes[j]!).filter((n) => !isRunning(n));
      for (const node of todo) launch(node);
      await Promise.all(todo.map((node) => waitHealthy(node)));
    },
    async stop(i) {
      await Promise.all(indexes(i).map((j) => signal(nodes[j]!, 'SIGTERM', 10_000)));
    },
    async kill(i) {
      await Promise.all(indexes(i).map((j) => signal(nodes[j]!, 'SIGKILL', 10_000)));
    },
    running(i) {
      return isRunning(nodes[indexes(i)[0]!]!);
    },
    async streamLeader(stream) {
      for (const [i, node] of nodes.entries()) {
        if (!isRunning(node)) continue;
        const jsz = await fetchJson(`http://127.0.0.1:${node.monitorPort}/jsz?accounts=true&streams=true`).catch(() => undefined);
        const detail = (jsz as Jsz | undefined)?.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === stream);
        // Each node knows who leads; trust only the node that says it leads itself.
        const leader = detail?.cluster?.leader ?? (nodes.length === 1 && detail ? node.name : undefined);
        if (leader === node.name) return i;
      }
      return undefined;
    },
    log(i) {
      const node = nodes[indexes(i)[0]!]!;
      try {
        return readFileSync(node.logFile, 'utf8').split('\n').slice(-30).join('\n');
      } catch {
        return '';
      }
    },
    close() {
      closing ??= (async () => {
        closed = true;
        await servers.stop();
        rmSync(dir, { recursive: true, force: true });
      })().catch((err: unknown) => {
        closing = undefined; // a later close() tries again
        throw err;
      });
      return closing;
    },
  };

  const waitHealthy = async (node: Node, timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (!isRunning(node)) break;
      try {
        const res = await fetch(`http://127.0.0.1:${node.monitorPort}/healthz`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) return;
        last = await res.text();
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`nats-server ${node.name} on 127.0.0.1:${node.port} did not become healthy (${last})\n${servers.log(nodes.indexOf(node))}`);
  };

  installExitHook();
  try {
    await servers.start();
  } catch (err) {
    await servers.close().catch(() => undefined);
    throw err;
  }
  return servers;
}

interface Jsz {
  account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
}

async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL what is left (test data need not be kept).
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

