/**
 * A real mosquitto 2.0 broker per test file, on 127.0.0.1 and a fresh temp dir.
 *
 * Layout: `dir` is a new directory under the OS temp dir (`strata-mosquitto-XXXXXX`) holding
 * `mosquitto.conf`, the optional `passwd` and `acl` files, `data/` (the persistence database,
 * written on a clean stop and every `autosave_interval`) and `mosquitto.log`.
 *
 * Config: one listener on 127.0.0.1 only (never a websockets listener: mosquitto 2.0.11 binds
 * those to every interface), `persistence true`, and `max_queued_messages 100000` (the default
 * of 1000 silently drops QoS 1 bursts for offline persistent sessions).
 *
 * Lifecycle: mosquitto runs in the foreground as our child; `stop()` sends SIGTERM (it saves its
 * persistence database and exits), `kill()` sends SIGKILL (messages since the last autosave are
 * lost, as in a crash). Tests call `close()` in `afterAll`; as a last resort, brokers still
 * running when the process exits normally get SIGTERM from an `exit` hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { freePort } from './free-port.js';

const BIN = '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
  /**
   * Username → password. When given, anonymous clients are refused (`allow_anonymous false`)
   * and these users go into a password file.
   */
  users?: Record<string, string>;
  /**
   * ACL file lines, e.g. `['user strata-bridge', 'topic read devices/+/telemetry',
   * 'pattern write devices/%u/telemetry']`. Without it every client may read and write everything.
   */
  acl?: string[];
  /** Extra `mosquitto.conf` lines (global section). */
  extraConfig?: string[];
}

export interface MosquittoServer {
  /** `mqtt://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** The broker's temp dir (config, data, log). */
  dir: string;
  /** SIGTERM and wait: mosquitto saves its persistence database. No-op when not running. */
  stop(): Promise<void>;
  /** Starts again on the same port, config and data. No-op when running; throws after `close()`. */
  start(): Promise<void>;
  /** SIGKILL and wait, like a crash. No-op when not running. */
  kill(): Promise<void>;
  /** Stops the broker and removes its dir. Idempotent; call it in `afterAll`. */
  close(): Promise<void>;
  /** The broker's log so far (for failure messages). */
  log(): string;
  /** The running broker's PID (undefined when stopped), e.g. to read its CPU time. */
  pid(): number | undefined;
}

/** PIDs of brokers started by this process and not stopped yet. */
const running = new Set<number>();
let exitHookInstalled = false;

/** Writes a config in a temp dir and starts mosquitto on 127.0.0.1; resolves once it accepts connections. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoServer> {
  if (!existsSync(BIN)) throw new Error(`mosquitto is not installed (${BIN} is missing): run \`bash scripts/engines.sh install\``);
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'strata-mosquitto-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'mosquitto.log');
  mkdirSync(dataDir);
  const conf = [
    `listener ${port} 127.0.0.1`,
    'persistence true',
    `persistence_location ${dataDir}/`,
    'max_queued_messages 100000',
    `log_dest file ${logFile}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'log_timestamp_format %H:%M:%S',
  ];
  if (opts.users) {
    writeFileSync(join(dir, 'passwd'), Object.entries(opts.users).map(([user, password]) => `${user}:${passwordHash(password)}\n`).join(''));
    conf.push('allow_anonymous false', `password_file ${join(dir, 'passwd')}`);
  } else {
    conf.push('allow_anonymous true');
  }
  if (opts.acl) {
    writeFileSync(join(dir, 'acl'), opts.acl.join('\n') + '\n');
    conf.push(`acl_file ${join(dir, 'acl')}`);
  }
  conf.push(...(opts.extraConfig ?? []));
  writeFileSync(join(dir, 'mosquitto.conf'), conf.join('\n') + '\n');
  // As root, mosquitto drops to the `mosquitto` user after reading its config: it must still
  // reach its data dir and log file.
  if (userInfo().uid === 0) {
    chmodSync(dir, 0o755);
    try {
      const { uid, gid } = mosquittoUser();
      chownSync(dataDir, uid, gid);
      writeFileSync(logFile, '');
      chownSync(logFile, uid, gid);
    } catch {
      chmodSync(dataDir, 0o777);
    }
  }

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let closed = false;
  let closing: Promise<void> | undefined;

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(sig);
    await exited;
  };

  const server: MosquittoServer = {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dir,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    async start() {
      if (closed) throw new Error(`mosquitto on port ${port} is closed`);
      if (child && child.exitCode === null && child.signalCode === null) return;
      let stderr = '';
      const c = spawn(BIN, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
      c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child = c;
      exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      if (c.pid !== undefined) running.add(c.pid);
      void exited.then(() => c.pid !== undefined && running.delete(c.pid));
      installExitHook();
      const failed = exited.then(() => {
        throw new Error(`mosquitto exited before listening on 127.0.0.1:${port}: ${stderr.trim()}\n${server.log()}`);
      });
      await Promise.race([waitForPort(port, 10_000), failed]).catch(async (err: unknown) => {
        await signal('SIGKILL');
        throw err;
      });
    },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    close() {
      closing ??= (async () => {
        closed = true;
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };

  try {
    await server.start();
  } catch (err) {
    await server.close();
    throw err;
  }
  return server;
}

/** A mosquitto 2.0 password-file hash (`$7$`: PBKDF2-SHA512, 101 iterations, as `mosquitto_passwd` writes). */
function passwordHash(password: string): string {
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, 101, 64, 'sha512');
  return `$7$101$${salt.toString('base64')}$${hash.toString('base64')}`;
}

function mosquittoUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('mosquitto:'));
  const fields = line?.split(':');
  if (!fields || fields.length < 4) throw new Error('no mosquitto user');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGTERM every broker still running and let it finish alone.
  process.on('exit', () => {
    for (const pid of running) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection; rejects after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

