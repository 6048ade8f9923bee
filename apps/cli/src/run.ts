import { StrataError } from '@strata/core';

/** Exit codes: 0 ok, 1 system error (retry may help), 2 usage or input error (fix the command). */
export const EXIT = { ok: 0, system: 1, usage: 2 } as const;

export class UsageError extends Error {}

/** Runs a command body, maps any error to a one-line message on stderr and an exit code. */
export async function run(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    process.exitCode = exitCodeFor(err);
    const code = err instanceof StrataError ? ` [${err.code}]` : '';
    process.stderr.write(`strata: ${(err as Error).message}${code}\n`);
    if (process.exitCode === EXIT.system && err instanceof Error && err.stack && !(err instanceof StrataError)) {
      process.stderr.write(err.stack + '\n');
    }
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof StrataError) return err.isUserError ? EXIT.usage : EXIT.system;
  return EXIT.system;
}
