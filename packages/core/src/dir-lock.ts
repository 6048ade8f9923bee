import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './logger.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock files this process holds now: our own pid in any other lock is a previous life's. */
const held = new Set<string>();

/**
 * Takes `DIR/LOCK` (created with O_EXCL, holding our pid) so one process at a time owns a data
 * directory (the embedded stream's, the embedded database's). A lock whose pid is dead is stale (the owner crashed) and is taken over. So is one
 * holding our own pid that this process did not take: after kill -9 a restarted process can get
 * the same pid (always, as PID 1 in a container). Opening the same directory twice in one process
 * is refused. Returns the release function.
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
        await fh.writeFile(`${process.pid}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      held.add(path);
      return async () => {
        held.delete(path);
        await fsp.rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = await fsp.readFile(path, 'utf8').catch(() => '');
    const pid = Number.parseInt(text.trim(), 10);
    const ours = pid === process.pid;
    if (ours ? held.has(path) : Number.isInteger(pid) && pid > 0 && isAlive(pid)) throw locked({ dir, pid });
    // An empty lock may be one another process has created but not written yet: only a while
    // later is it stale.
    const st = await fsp.stat(path).catch(() => null);
    if (text.trim() === '' && st && Date.now() - st.mtimeMs < 5000) throw locked({ dir, pid: 'unknown' });
    logger.warn({ dir, pid: Number.isNaN(pid) ? null : pid }, 'removing stale directory lock');
    await fsp.rm(path, { force: true });
  }
  throw locked({ dir, pid: 'unknown' });
}
