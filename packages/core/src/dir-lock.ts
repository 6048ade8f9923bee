import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './logger.js';

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When this process started (Unix ms), the same in every thread of it: with the pid, it tells
 * this process from an earlier one that had the same pid.
 */
const processStartMs = (): number => Date.now() - process.uptime() * 1000;
/** Two readings of the start time in one process differ by clock jitter, far less than this. */
const SAME_PROCESS_MS = 1000;

/**
 * Takes `DIR/LOCK` (created with O_EXCL, holding `<pid> <process start ms>`) so one process at a
 * time owns a data directory (the embedded stream's, the embedded database's). A lock whose pid
 * is dead is stale (the owner crashed) and is taken over. So is one holding our own pid but
 * another start time: after kill -9 a restarted process can get the same pid (always, as PID 1
 * in a container). Opening a directory this process holds, from any of its threads, is refused.
 * Returns the release function.
 */
export async function acquireDirLock(
  dir: string,
  opts: { logger: Logger; locked: (params: { dir: string; pid: number | string }) => Error },
): Promise<() => Promise<void>> {
  const { logger, locked } = opts;
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await fsp.open(path, 'wx', 0o644);
      try {
        await fh.writeFile(`${process.pid} ${Math.round(processStartMs())}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return async () => {
        await fsp.rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = await fsp.readFile(path, 'utf8').catch(() => '');
    const [pidText, startText] = text.trim().split(/\s+/);
    const pid = Number.parseInt(pidText ?? '', 10);
    const ours = pid === process.pid;
    const thisProcess = ours && Math.abs(Number(startText) - processStartMs()) < SAME_PROCESS_MS;
    if (ours ? thisProcess : Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) throw locked({ dir, pid });
    // An empty lock may be one another process has created but not written yet: only a while
    // later is it stale.
    const st = await fsp.stat(path).catch(() => null);
    if (text.trim() === '' && st && Date.now() - st.mtimeMs < 5000) throw locked({ dir, pid: 'unknown' });
    logger.warn({ dir, pid: Number.isNaN(pid) ? null : pid }, 'removing stale directory lock');
    await fsp.rm(path, { force: true });
  }
  throw locked({ dir, pid: 'unknown' });
}
