import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '@strata/config';
import { KeyStore, type CreateKeyRequest, type KeyInfo } from '@strata/auth';
import { commonOverrides, list, type CommonFlags } from '../options.js';
import { UsageError } from '../run.js';

interface RemoteFlags extends CommonFlags {
  url?: string;
  adminKey?: string;
}

/** Where keys live: the data dir's key log directly, or a running server's API with an admin key. */
interface KeyBackend {
  create(req: CreateKeyRequest): Promise<{ key: string; info: KeyInfo }>;
  list(): Promise<KeyInfo[]>;
  revoke(id: string): Promise<KeyInfo>;
}

function localBackend(flags: CommonFlags, env: NodeJS.ProcessEnv): KeyBackend {
  const config = loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: commonOverrides(flags) });
  const store = KeyStore.open(join(config.dataDir, 'keys.jsonl'));
  return {
    create: async (req) => store.create(req),
    list: async () => store.list(),
    revoke: async (id) => store.revoke(id),
  };
}

function remoteBackend(url: string, adminKey: string): KeyBackend {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(new URL(path, url), {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as T & { error?: { message: string; code: string } };
    if (!res.ok) throw new UsageError(`${res.status} ${json.error?.message ?? res.statusText} [${json.error?.code ?? 'HTTP'}]`);
    return json;
  };
  return {
    create: async (req) => {
      const { key, ...info } = await call<KeyInfo & { key: string }>('POST', '/v1/keys', req);
      return { key, info };
    },
    list: async () => (await call<{ keys: KeyInfo[] }>('GET', '/v1/keys')).keys,
    revoke: async (id) => call<KeyInfo>('DELETE', `/v1/keys/${encodeURIComponent(id)}`),
  };
}

function backend(flags: RemoteFlags, env: NodeJS.ProcessEnv): KeyBackend {
  if (flags.url === undefined) return localBackend(flags, env);
  if (!flags.adminKey) throw new UsageError('--url needs --admin-key (or STRATA_ADMIN_KEY)');
  return remoteBackend(flags.url, flags.adminKey);
}

function withTarget(cmd: Command, env: NodeJS.ProcessEnv): Command {
  return cmd
    .option('--data <dir>', 'data directory to work on directly (default ./data, env STRATA_DATA)')
    .option('--config <file>', 'YAML or JSON config file')
    .option('--url <url>', 'work through a running server instead, e.g. http://127.0.0.1:8080')
    .option('--admin-key <key>', 'admin key for --url (env STRATA_ADMIN_KEY)', env.STRATA_ADMIN_KEY);
}

export function registerKeys(program: Command, env: NodeJS.ProcessEnv): void {
  const keys = program.command('keys').description('manage API keys (stored hashed; a key is shown only when created)');

  withTarget(keys.command('create'), env)
    .description('create a key and print it')
    .requiredOption('--scopes <list>', 'comma-separated: ingest, metrics, admin', list)
    .option('--device <id>', 'bind the key to one device: it may only write that device')
    .option('--name <text>', 'a note to recognise the key by')
    .option('--expires <time>', 'RFC 3339 time after which the key stops working')
    .option('--json', 'print the key and its details as JSON')
    .action(async (flags: RemoteFlags & { scopes: string[]; device?: string; name?: string; expires?: string; json?: boolean }) => {
      const { key, info } = await backend(flags, env).create({
        scopes: flags.scopes,
        ...(flags.device !== undefined && { device: flags.device }),
        ...(flags.name !== undefined && { name: flags.name }),
        ...(flags.expires !== undefined && { expires: flags.expires }),
      });
      process.stdout.write(flags.json ? JSON.stringify({ key, ...info }) + '\n' : key + '\n');
    });

  withTarget(keys.command('list'), env)
    .description('list keys (ids, scopes, devices; never the keys themselves)')
    .action(async (flags: RemoteFlags) => {
      for (const k of await backend(flags, env).list()) {
        const state = k.revoked ? `revoked ${k.revoked}` : k.expires ? `expires ${k.expires}` : 'active';
        process.stdout.write(`${k.id}  ${k.scopes.join(',')}  ${k.device ?? '*'}  ${state}  ${k.name ?? ''}\n`);
      }
    });

  withTarget(keys.command('revoke'), env)
    .description('revoke a key by id; a running server refuses it within a second')
    .argument('<id>', 'key id (the 12 hex characters after stk_)')
    .action(async (id: string, flags: RemoteFlags) => {
      const info = await backend(flags, env).revoke(id);
      process.stdout.write(`revoked ${info.id}\n`);
    });
}
