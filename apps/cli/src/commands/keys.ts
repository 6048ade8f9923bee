import type { Command } from 'commander';
import { KEY_SCOPES } from '@strata/auth';
import { list } from '../options.js';
import { withDirectory, withTarget, type TargetFlags } from './target.js';
import { rotateMasterCommand } from './rotate-master.js';

export function registerKeys(program: Command, env: NodeJS.ProcessEnv): void {
  const keys = program.command('keys').description('manage API keys (stored hashed; a key is shown only when created)');

  withTarget(keys.command('create'))
    .description('create a key and print it')
    .requiredOption('--scopes <list>', `comma-separated: ${KEY_SCOPES.join(', ')}`, list)
    .option('--device <id>', 'bind the key to one device: it may only write (or read) that device')
    .option('--name <text>', 'a note to recognise the key by')
    .option('--expires <time>', 'RFC 3339 time after which the key stops working')
    .option('--json', 'print the key and its details as JSON')
    .action(async (flags: TargetFlags & { scopes: string[]; device?: string; name?: string; expires?: string; json?: boolean }) => {
      const { key, info } = await withDirectory(flags, env, (dir) =>
        dir.createKey({
          scopes: flags.scopes,
          ...(flags.device !== undefined && { device: flags.device }),
          ...(flags.name !== undefined && { name: flags.name }),
          ...(flags.expires !== undefined && { expires: flags.expires }),
        }),
      );
      process.stdout.write(flags.json ? JSON.stringify({ key, ...info }) + '\n' : key + '\n');
    });

  withTarget(keys.command('list'))
    .description('list keys (ids, scopes, devices; never the keys themselves)')
    .action(async (flags: TargetFlags) => {
      for (const k of await withDirectory(flags, env, (dir) => dir.listKeys())) {
        const state = k.revoked ? `revoked ${k.revoked}` : k.expires ? `expires ${k.expires}` : 'active';
        process.stdout.write(`${k.id}  ${k.scopes.join(',')}  ${k.device ?? '*'}  ${state}  ${k.name ?? ''}\n`);
      }
    });

  withTarget(keys.command('revoke'))
    .description('revoke a key by id; a running server refuses it within a second')
    .argument('<id>', 'key id (the 12 hex characters after stk_)')
    .action(async (id: string, flags: TargetFlags) => {
      const info = await withDirectory(flags, env, (dir) => dir.revokeKey(id));
      process.stdout.write(`revoked ${info.id}\n`);
    });

  keys
    .command('rotate-master')
    .description('re-seal the data keys of patient records with a new master key (the data is not re-encrypted)')
    .option('--data <dir>', 'data directory (server stopped; default ./data, env STRATA_DATA)')
    .option('--db <url>', 'a PostgreSQL server (env STRATA_DB_URL)')
    .option('--config <file>', 'YAML or JSON config file')
    .option('--new-key-file <file>', 'the new master key (32 bytes, base64 or hex); required when the master key comes from STRATA_MASTER_KEY. Without it, a new key replaces DATA/master.key')
    .action(async (flags: { data?: string; db?: string; config?: string; newKeyFile?: string }) => {
      const r = await rotateMasterCommand(flags, env);
      process.stdout.write(`re-sealed ${r.rewrapped} data key(s): master ${r.from} -> ${r.to}${r.wrote ? `; new key in ${r.wrote}` : '; now set STRATA_MASTER_KEY to the new key'}\n`);
      if (r.retired) process.stdout.write(`the old key is kept in ${r.retired} for the backups it sealed (strata restore --master-key-file); delete it once they have expired\n`);
    });
}
