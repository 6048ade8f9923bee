import type { Command } from 'commander';
import { ROLES, PASSWORD_MIN_LENGTH } from '@strata/auth';
import { UsageError } from '../run.js';
import { withDirectory, withTarget, type TargetFlags } from './target.js';

/** The password from stdin: the first line when piped, or typed without echo on a terminal. */
async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += String(chunk);
    return text.split('\n')[0]!.replace(/\r$/, '');
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(typed));
        if (ch === '\u0003') return done(() => reject(new UsageError('cancelled')));
        if (ch === '\u007f') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    const done = (then: () => void): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      then();
    };
    stdin.on('data', onData);
  });
}

export function registerUsers(program: Command, env: NodeJS.ProcessEnv): void {
  const users = program.command('users').description(`manage users who sign in (roles: ${ROLES.join(', ')})`);

  withTarget(users.command('create'))
    .description(`create a user; the password (at least ${PASSWORD_MIN_LENGTH} characters) is read from stdin, or asked for on a terminal`)
    .argument('<username>')
    .requiredOption('--role <role>', ROLES.join('|'))
    .action(async (username: string, flags: TargetFlags & { role: string }) => {
      const password = await readPassword(`password for ${username}: `);
      const user = await withDirectory(flags, env, (dir) => dir.createUser({ username, password, role: flags.role }));
      process.stdout.write(`created ${user.username} (${user.role}) ${user.id}\n`);
    });

  withTarget(users.command('list'))
    .description('list users')
    .action(async (flags: TargetFlags) => {
      for (const u of await withDirectory(flags, env, (dir) => dir.listUsers())) {
        process.stdout.write(`${u.id}  ${u.username}  ${u.role}  ${u.disabled ? 'disabled' : 'active'}  ${u.lastLogin ?? 'never signed in'}\n`);
      }
    });

  withTarget(users.command('update'))
    .description('change a role, disable or enable, or set a new password (read like create)')
    .argument('<username>')
    .option('--role <role>', ROLES.join('|'))
    .option('--disable', 'disable the account (ends its sessions)')
    .option('--enable', 'enable the account')
    .option('--password', 'set a new password (ends its sessions)')
    .action(async (username: string, flags: TargetFlags & { role?: string; disable?: boolean; enable?: boolean; password?: boolean }) => {
      if (flags.disable && flags.enable) throw new UsageError('--disable and --enable exclude each other');
      const password = flags.password ? await readPassword(`new password for ${username}: `) : undefined;
      const change = {
        ...(flags.role !== undefined && { role: flags.role }),
        ...((flags.disable || flags.enable) && { disabled: Boolean(flags.disable) }),
        ...(password !== undefined && { password }),
      };
      if (Object.keys(change).length === 0) throw new UsageError('nothing to change: give --role, --disable, --enable or --password');
      const user = await withDirectory(flags, env, async (dir) => {
        const found = (await dir.listUsers()).find((u) => u.username.toLowerCase() === username.toLowerCase());
        if (!found) throw new UsageError(`no user ${username}`);
        return dir.updateUser(found.id, change);
      });
      process.stdout.write(`updated ${user.username} (${user.role}${user.disabled ? ', disabled' : ''})\n`);
    });
}
