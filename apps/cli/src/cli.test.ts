import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AuthDirectory } from '@strata/auth';
import { openDatabase } from '@strata/db';
import { startServerProcess } from '@strata/testkit';
import { seededDataDir } from '@strata/db/testing';
import { BIN, strata } from './test-support.js';

// Each test runs several CLI processes (a Node + tsx start each, seconds on a busy 2-core machine).
vi.setConfig({ testTimeout: 90_000 });

const tmp = await seededDataDir('cli');
afterAll(() => tmp.remove());

describe('strata start', () => {
  it('prints the admin key on the first start only, and it is the one in admin.key', async () => {
    const data = await seededDataDir('cli-start');
    try {
      const first = await startServerProcess(['--data', data.dir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn' });
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      const key = readFileSync(join(data.dir, 'admin.key'), 'utf8').trim();
      expect(first.stdout()).toContain(key);
      const second = await startServerProcess(['--data', data.dir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn' });
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect(second.stdout()).not.toMatch(/stk_/);
      expect(second.stdout()).toMatch(/Strata is running at/);
    } finally {
      data.remove();
    }
  });
});

describe('logs', () => {
  it('are human-readable on a terminal, and Ctrl-C there stops the server cleanly', async () => {
    const data = await seededDataDir('cli-tty');
    try {
      // `script` gives the server a real pseudo-terminal; typing Ctrl-C into it sends SIGINT.
      // `exec` leaves the server alone in the foreground (dash, unlike bash, would otherwise stay
      // in between and die of the SIGINT itself); SHELL is pinned so every machine runs the same.
      const command = `exec ${process.execPath} ${BIN} start --port 0 --no-demo --data ${data.dir}`;
      const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, SHELL: '/bin/sh' } });
      let out = '';
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('Strata is running at')) resolve();
        });
      });
      child.stdin.write('\x03');
      expect(await exited).toBe(0);
      expect(out).toMatch(/INFO.*embedded stream open/);
      expect(out).toMatch(/stopped cleanly/);
      expect(out).not.toMatch(/^\{"level"/m);
    } finally {
      data.remove();
    }
  });

  it('never carry a key, at debug level, through start, key creation, bad keys and revocation', async () => {
    const data = await seededDataDir('cli-secrets');
    const server = await startServerProcess(['--data', data.dir, '--no-demo', '--log-level', 'debug']);
    try {
      const adminKey = readFileSync(join(data.dir, 'admin.key'), 'utf8').trim();
      const created = await fetch(`${server.url}/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ scopes: ['ingest'] }),
      });
      const { key, id } = (await created.json()) as { key: string; id: string };
      await fetch(`${server.url}/v1/ingest`, { method: 'POST', headers: { 'x-api-key': key.slice(0, -2) + 'xx', 'content-type': 'application/json' }, body: '{}' });
      await fetch(`${server.url}/v1/keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminKey}` } });
      await fetch(`${server.url}/v1/ingest`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      data.remove();
    }
    const logLines = server.stdout().split('\n').filter((l) => l.startsWith('{'));
    expect(logLines.length).toBeGreaterThan(3);
    expect(logLines.filter((l) => /stk_[0-9a-f]{12}_[A-Za-z0-9_-]{10}/.test(l))).toEqual([]);
  });
});

describe('strata keys', () => {
  it('creates a device-bound ingest key in the data dir, stored hashed', async () => {
    const res = await strata(['keys', 'create', '--scopes', 'ingest', '--device', 'pump-7', '--data', tmp.dir]);
    expect(res.code).toBe(0);
    const key = res.stdout.trim();
    expect(key).toMatch(/^stk_[0-9a-f]{12}_/);
    const db = await openDatabase({ dir: join(tmp.dir, 'db') });
    try {
      const rows = await db.kysely.selectFrom('api_keys').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(key.slice(17));
      const directory = await AuthDirectory.open({ db });
      expect(directory.verifyKey(key)).toMatchObject({ kind: 'key', scopes: ['ingest'], device: 'pump-7' });
    } finally {
      await db.close();
    }
  });

  it('takes the data dir from STRATA_DATA, lists and revokes', async () => {
    const env = { STRATA_DATA: tmp.dir };
    const created = await strata(['keys', 'create', '--scopes', 'ingest', '--name', 'listed', '--json'], env);
    const { id } = JSON.parse(created.stdout) as { id: string };
    const listed = await strata(['keys', 'list'], env);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).not.toContain('stk_');
    expect((await strata(['keys', 'revoke', id], env)).code).toBe(0);
    expect((await strata(['keys', 'list'], env)).stdout).toMatch(new RegExp(`${id}.*revoked`));
  });

  it('fails with a message and exit code 2 on bad input', async () => {
    const badScope = await strata(['keys', 'create', '--scopes', 'root', '--data', tmp.dir]);
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toMatch(/unknown scope root/);
    const noScopes = await strata(['keys', 'create', '--data', tmp.dir]);
    expect(noScopes.code).toBe(2);
    expect(noScopes.stderr).toMatch(/--scopes/);
    const badPort = await strata(['start', '--port', 'eighty', '--data', tmp.dir]);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/port/);
    expect((await strata(['nonsense'])).code).toBe(2);
    const revokeUnknown = await strata(['keys', 'revoke', 'ffffffffffff', '--data', tmp.dir]);
    expect(revokeUnknown.code).toBe(2);
    expect(revokeUnknown.stderr).toMatch(/no key with id/);
  });

  it('creates keys through a running server with --url and an admin key', async () => {
    const data = await seededDataDir('cli-remote');
    const server = await startServerProcess(['--data', data.dir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn' });
    try {
      const adminKey = readFileSync(join(data.dir, 'admin.key'), 'utf8').trim();
      const res = await strata(['keys', 'create', '--scopes', 'ingest', '--url', server.url, '--admin-key', adminKey]);
      expect(res.code).toBe(0);
      const key = res.stdout.trim();
      const ingest = await fetch(`${server.url}/v1/ingest`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: '{"sensorId":"sensor-001","temperature":72.5,"timestamp":"2025-12-04T12:00:00Z"}',
      });
      expect(ingest.status).toBe(200);
      const denied = await strata(['keys', 'create', '--scopes', 'ingest', '--url', server.url, '--admin-key', key]);
      expect(denied.code).toBe(2);
      expect(denied.stderr).toMatch(/403/);
      // The running server owns the embedded database: the data dir route says where to go instead.
      const busy = await strata(['keys', 'list', '--data', data.dir]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/in use by process \d+.*--url/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      data.remove();
    }
  });
});

describe('strata users', () => {
  it('creates a user whose password, read from stdin, signs in; lists and disables users', async () => {
    const data = await seededDataDir('cli-users');
    const server = await startServerProcess(['--data', data.dir, '--no-demo'], { STRATA_LOG_LEVEL: 'warn' });
    try {
      const remote = ['--url', server.url, '--admin-key', readFileSync(join(data.dir, 'admin.key'), 'utf8').trim()];
      const created = await strata(['users', 'create', 'alice', '--role', 'clinician', ...remote], {}, 'Correct-horse-42\n');
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(/created alice \(clinician\)/);
      const login = (password: string) =>
        fetch(`${server.url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password }) });
      expect((await login('Correct-horse-42')).status).toBe(200);
      expect((await strata(['users', 'list', ...remote])).stdout).toMatch(/alice\s+clinician\s+active/);

      const weak = await strata(['users', 'create', 'bob', '--role', 'analyst', ...remote], {}, 'short\n');
      expect(weak.code).toBe(2);
      expect(weak.stderr).toMatch(/at least 12/);
      const badRole = await strata(['users', 'create', 'bob', '--role', 'root', ...remote], {}, 'Correct-horse-42\n');
      expect(badRole.code).toBe(2);

      expect((await strata(['users', 'update', 'alice', '--disable', ...remote])).code).toBe(0);
      expect((await login('Correct-horse-42')).status).toBe(401);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      data.remove();
    }
  });
});
