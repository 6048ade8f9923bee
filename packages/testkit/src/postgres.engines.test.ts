import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from './postgres.js';

/** Runs one statement on a fresh connection and returns the rows. */
async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

// The tests below run in order on one server: each step starts from the state the previous one left.
describe('startPostgres', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => server?.close());

  it('serves SQL on 127.0.0.1 at its url', async () => {
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
    await query(server.url, 'CREATE TABLE readings (device text PRIMARY KEY, value float8)');
    await query(server.url, "INSERT INTO readings VALUES ('m-1', 20.5)");
    expect(await query(server.url, 'SELECT device, value FROM readings')).toEqual([{ device: 'm-1', value: 20.5 }]);
    expect(await query(server.url, 'SHOW listen_addresses')).toEqual([{ listen_addresses: '127.0.0.1' }]);
  });

  it('refuses connections after stop() and has the same data after start()', async () => {
    await server.stop();
    await expect(query(server.url, 'SELECT 1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await server.stop(); // already stopped: no-op

    await server.start();
    expect(await query(server.url, 'SELECT device, value FROM readings')).toEqual([{ device: 'm-1', value: 20.5 }]);
  });

  it('createDatabase() gives a working database, separate from the others', async () => {
    const first = await server.createDatabase();
    const second = await server.createDatabase();
    expect(new Set([first, second, server.url]).size).toBe(3);
    await expect(query(first, 'SELECT * FROM readings')).rejects.toMatchObject({ code: '42P01' }); // undefined_table
    await query(first, 'CREATE TABLE t (x int)');
    await query(first, 'INSERT INTO t VALUES (1)');
    expect(await query(first, 'SELECT x FROM t')).toEqual([{ x: 1 }]);
    await expect(query(second, 'SELECT x FROM t')).rejects.toMatchObject({ code: '42P01' });

    const named = await server.createDatabase('Site "A"');
    expect(await query(named, 'SELECT current_database() AS db')).toEqual([{ db: 'Site "A"' }]);
  });

  it('close() stops the server and removes its data dir, and may be called again', async () => {
    expect(existsSync(server.dataDir)).toBe(true);
    await server.close();
    expect(existsSync(server.dataDir)).toBe(false);
    await expect(query(server.url, 'SELECT 1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(server.close()).resolves.toBeUndefined();
    await expect(server.start()).rejects.toThrow(/closed/);
  });
});

describe('startPostgres({ port })', () => {
  it('listens on the port it is given', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    const server = await startPostgres({ port });
    try {
      expect(server.port).toBe(port);
      expect(await query(server.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await server.close();
    }
  });
});
