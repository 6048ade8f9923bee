import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '@strata/config';
import { AuthDirectory, type CreateKeyRequest, type KeyInfo, type UserInfo } from '@strata/auth';
import { openDatabase } from '@strata/db';
import type { CommonFlags } from '../options.js';
import { commonOverrides } from '../options.js';
import { UsageError } from '../run.js';

export interface TargetFlags extends CommonFlags {
  db?: string;
  url?: string;
  adminKey?: string;
}

/**
 * Where keys and users are managed: the database directly (the embedded one under the data
 * dir, which needs the server stopped, or a server by `--db`), or a running Strata's API with an
 * admin key (`--url`).
 */
export interface Directory {
  createKey(req: CreateKeyRequest): Promise<{ key: string; info: KeyInfo }>;
  listKeys(): Promise<KeyInfo[]>;
  revokeKey(id: string): Promise<KeyInfo>;
  createUser(req: { username: string; password: string; role: string }): Promise<UserInfo>;
  listUsers(): Promise<UserInfo[]>;
  updateUser(id: string, change: { role?: string; disabled?: boolean; password?: string }): Promise<UserInfo>;
  close(): Promise<void>;
}

export function withTarget(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'data directory whose embedded database to work on (server stopped; default ./data, env STRATA_DATA)')
    .option('--db <url>', 'work on a PostgreSQL server directly (env STRATA_DB_URL)')
    .option('--config <file>', 'YAML or JSON config file')
    .option('--url <url>', 'work through a running server instead, e.g. http://127.0.0.1:8080')
    .option('--admin-key <key>', 'admin key for --url (env STRATA_ADMIN_KEY; never shown in --help)');
}

/** Runs `body` against the chosen directory and always closes it. */
export async function withDirectory<T>(flags: TargetFlags, env: NodeJS.ProcessEnv, body: (dir: Directory) => Promise<T>): Promise<T> {
  const dir = flags.url !== undefined ? remote({ ...flags, adminKey: flags.adminKey ?? env.STRATA_ADMIN_KEY }) : await local(flags, env);
  try {
    return await body(dir);
  } finally {
    await dir.close();
  }
}

async function local(flags: TargetFlags, env: NodeJS.ProcessEnv): Promise<Directory> {
  const config = loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: { ...commonOverrides(flags), 'db.url': flags.db } });
  const db = await openDatabase(config.db.url ? { url: config.db.url, poolSize: 2 } : { dir: join(config.dataDir, 'db') });
  const directory = await AuthDirectory.open({ db });
  const by = { actor: `cli:${env.USER ?? 'unknown'}` };
  return {
    createKey: (req) => directory.createKey(req, by),
    listKeys: async () => {
      await directory.audit({ ...by, action: 'key.list', resource: 'keys', outcome: 'success' });
      return directory.listKeys();
    },
    revokeKey: (id) => directory.revokeKey(id, by),
    createUser: (req) => directory.createUser(req, by),
    listUsers: async () => {
      await directory.audit({ ...by, action: 'user.list', resource: 'users', outcome: 'success' });
      return directory.listUsers();
    },
    updateUser: (id, change) => directory.updateUser(id, change, by),
    close: async () => {
      directory.close();
      await db.close();
    },
  };
}

function remote(flags: TargetFlags): Directory {
  const url = flags.url!;
  if (!flags.adminKey) throw new UsageError('--url needs --admin-key (or STRATA_ADMIN_KEY)');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(new URL(path, url), {
      method,
      headers: { authorization: `Bearer ${flags.adminKey}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as T & { error?: { message: string; code: string } };
    if (!res.ok) throw new UsageError(`${res.status} ${json.error?.message ?? res.statusText} [${json.error?.code ?? 'HTTP'}]`);
    return json;
  };
  return {
    createKey: async (req) => {
      const { key, ...info } = await call<KeyInfo & { key: string }>('POST', '/v1/keys', req);
      return { key, info };
    },
    listKeys: async () => (await call<{ keys: KeyInfo[] }>('GET', '/v1/keys')).keys,
    revokeKey: (id) => call<KeyInfo>('DELETE', `/v1/keys/${encodeURIComponent(id)}`),
    createUser: (req) => call<UserInfo>('POST', '/v1/users', req),
    listUsers: async () => (await call<{ users: UserInfo[] }>('GET', '/v1/users')).users,
    updateUser: (id, change) => call<UserInfo>('PATCH', `/v1/users/${encodeURIComponent(id)}`, change),
    close: async () => undefined,
  };
}
