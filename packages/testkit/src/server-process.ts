import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const CLI = fileURLToPath(new URL('../../../apps/cli/bin/strata.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** The MQTT broker's URL, when the process runs one (the ingest role). */
  mqttUrl?: string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Everything the process printed to stdout so far. */
  stdout(): string;
  /** Everything the process printed to stderr (its logs) so far. */
  stderr(): string;
}

/**
 * Runs `strata start` as a child process (port 0) and resolves with its URL once it listens.
 * Used by tests that must kill the server for real.
 */
export async function startServerProcess(args: string[], env: Record<string, string> = {}, startupMs = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0', '--mqtt-port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  let mqttUrl: string | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    // Never leave a half-started server behind: kill it if it does not come up in time.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not report its URL within ${startupMs} ms: ${stderr}`));
    }, startupMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const running = /^Strata is running at (\S+)/.exec(line); // printed by `strata start` whatever the log level
      if (running) {
        mqttUrl = /MQTT: (mqtt:\/\/\S+)/.exec(line)?.[1];
        clearTimeout(timer);
        resolve(running[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening: ${stderr}`));
    });
  });
  return { child, url, ...(mqttUrl && { mqttUrl }), exited, stdout: () => stdout, stderr: () => stderr };
}
