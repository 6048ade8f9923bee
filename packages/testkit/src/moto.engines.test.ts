/** startMoto: a moto server of its own, its settings from `env`, stopped by PID. */
import { describe, expect, it } from 'vitest';
import { startMoto } from './moto.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startMoto', () => {
  it('answers on 127.0.0.1 with the settings it was given, and close() stops it', async () => {
    const moto = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: '0' } });
    const pid = moto.pid()!;
    try {
      expect(moto.endpoint).toBe(`http://127.0.0.1:${moto.port}`);
      // moto's reset-auth answers with the setting it replaces: the one from `env`.
      const res = await fetch(`${moto.endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
      expect(await res.json()).toMatchObject({ PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT: '0.0' });
    } finally {
      await moto.close();
    }
    expect(moto.pid()).toBeUndefined();
    expect(alive(pid)).toBe(false);
    await moto.close(); // idempotent
  }, 60_000);
});
