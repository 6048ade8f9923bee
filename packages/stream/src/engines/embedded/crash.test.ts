import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openEmbeddedStream } from './engine.js';
import { readPartition } from './test-support.js';
import { tempDir } from '@strata/testkit';

const script = fileURLToPath(new URL('./fixtures/crash-appender.ts', import.meta.url));

/** Runs the appender child until it has acknowledged `acks` appends, then kills it with SIGKILL. */
function appendThenKill(dir: string, prefix: string, acks: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir, prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: string[] = [];
    let buffered = '';
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('ACK ') && !killed) acked.push(line.slice(4));
      }
      if (!killed && acked.length >= acks) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`appender exited early (${code}): ${stderr}`));
    });
  });
}

describe('embedded stream after kill -9', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('has every acknowledged record and no corrupt one after the appending process is killed', async () => {
    const t = tempDir('crash');
    cleanups.push(t.remove);
    for (const round of [1, 2]) {
      const acked = await appendThenKill(t.dir, `r${round}`, 300);
      expect(acked.length).toBeGreaterThanOrEqual(300);

      // The dead child's lock is stale: the stream opens and recovers.
      const stream = await openEmbeddedStream({ dir: t.dir });
      const ids = new Set<string>();
      for (let p = 0; p < 3; p++) {
        const recs = await readPartition(stream, 'crash', p);
        expect(recs.map((r) => r.offset)).toEqual(Array.from({ length: recs.length }, (_, i) => i));
        for (const r of recs) {
          expect(JSON.parse(Buffer.from(r.value).toString()).pad).toHaveLength(60);
          ids.add(r.id!);
        }
      }
      expect(ids.size).toBeGreaterThanOrEqual(300 * 20 * round);
      const missing = acked.flatMap((a) => Array.from({ length: 20 }, (_, i) => `${a}-${i}`)).filter((id) => !ids.has(id));
      expect(missing).toEqual([]);
      await stream.close();
    }
  }, 60_000);
});
