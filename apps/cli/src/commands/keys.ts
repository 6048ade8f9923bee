import type { Command } from 'commander';
import { KEY_SCOPES } from '@strata/auth';
import { list } from '../options.js';
import { withDirectory, withTarget, type TargetFlags } from './target.js';

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
}
