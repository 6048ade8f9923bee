/** Runs the `strata` command as a user would: a child process, its output and exit code. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { vi } from 'vitest';
import { run } from './run.js';

export const BIN = fileURLToPath(new URL('../bin/strata.js', import.meta.url));

export function strata(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    child.stdin.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Runs commands as `strata` does (commander, the run wrapper's exit codes) in this process, so a
 * test can reach the same data dir and spy on nothing else: `register` adds the commands.
 */
export async function strataInProcess(register: (program: Command) => void, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  process.exitCode = undefined;
  try {
    const program = new Command('strata').exitOverride().configureOutput({ writeErr: (s) => (stderr += s), writeOut: (s) => (stdout += s) });
    register(program);
    await run(async () => {
      try {
        await program.parseAsync(['node', 'strata', ...args]);
      } catch (e) {
        if (e && typeof e === 'object' && 'code' in e && String(e.code).startsWith('commander.')) process.exitCode = 2;
        else throw e;
      }
    });
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}
