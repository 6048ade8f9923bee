import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { configErrors } from './errors.js';

describe('loadConfig', () => {
  it('gives the documented defaults with nothing set', () => {
    const c = loadConfig();
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080, bodyLimitBytes: 5 * 1024 * 1024 });
    expect(c.stream.retentionMs).toBe(24 * 3600 * 1000);
    expect(c.delivery).toMatchObject({ flushBytes: 5 * 1024 * 1024, flushIntervalMs: 300_000 });
    expect(c.dataDir).toBe(join(process.cwd(), 'data'));
  });

  it('layers file < env < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
    const file = join(dir, 'strata.yaml');
    writeFileSync(file, 'http:\n  port: 9000\n  host: 0.0.0.0\nstream:\n  partitions: 8\n');
    const c = loadConfig({
      file,
      env: { STRATA_PORT: '9100', STRATA_STREAM__PARTITIONS: '16', STRATA_DELIVERY__FLUSH_INTERVAL_MS: '1000', HOME: '/root' },
      overrides: { 'http.port': 9200 },
    });
    expect(c.http.port).toBe(9200);
    expect(c.http.host).toBe('0.0.0.0');
    expect(c.stream.partitions).toBe(16);
    expect(c.delivery.flushIntervalMs).toBe(1000);
  });

  it('is frozen', () => {
    const c = loadConfig();
    expect(() => {
      (c.http as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('fails fast listing every problem', () => {
    let caught: unknown;
    try {
      loadConfig({ env: { STRATA_PORT: '70000', STRATA_LOG_LEVEL: 'loud' }, overrides: { 'demo.bogus': 1 } });
    } catch (err) {
      caught = err;
    }
    expect(configErrors.STRATA_ERR_CONFIG_INVALID.is(caught)).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain('/http/port');
    expect(message).toContain('/log/level');
    expect(message).toMatch(/demo/);
  });

  it('reports an unreadable or malformed file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
    expect(() => loadConfig({ file: join(dir, 'missing.yaml') })).toThrow(/cannot read config file/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, '- just\n- a list\n');
    expect(() => loadConfig({ file: bad })).toThrow(/top level must be a mapping/);
  });
});
