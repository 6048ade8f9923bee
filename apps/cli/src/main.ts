import { Command } from 'commander';
import { registerStart } from './commands/start.js';
import { registerKeys } from './commands/keys.js';
import { registerUsers } from './commands/users.js';
import { registerLake } from './commands/lake.js';
import { registerReplay } from './commands/replay.js';
import { registerSql } from './commands/sql.js';
import { registerScan } from './commands/scan.js';
import { registerDoctor } from './commands/doctor.js';
import { registerImport } from './commands/import.js';
import { registerBackup, registerRestore } from './commands/backup.js';
import { registerMl } from './commands/ml.js';
import { run } from './run.js';

// The only place that reads process.env: commands get it and pass it to loadConfig.
const program = new Command('strata')
  .description('Strata: IoT and health-data platform')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });
registerStart(program, process.env);
registerKeys(program, process.env);
registerUsers(program, process.env);
registerLake(program, process.env);
registerReplay(program, process.env);
registerSql(program, process.env);
registerScan(program);
registerDoctor(program, process.env);
registerImport(program, process.env);
registerBackup(program, process.env);
registerRestore(program, process.env);
registerMl(program, process.env);

await run(async () => {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // Commander already printed its message (help, unknown option, missing argument).
    if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string' && err.code.startsWith('commander.')) {
      const exitCode = 'exitCode' in err && typeof err.exitCode === 'number' ? err.exitCode : 2;
      process.exitCode = exitCode === 0 ? 0 : 2;
      return;
    }
    throw err;
  }
});
