import type { Command } from 'commander';
import { loadConfig } from '@strata/config';
import { createLogger, startPlatform, type Platform } from '@strata/server';
import { commonOverrides, port, type CommonFlags } from '../options.js';

interface StartFlags extends CommonFlags {
  port?: number;
  host?: string;
  db?: string;
  demo: boolean;
  logLevel?: string;
}

export function registerStart(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('start')
    .description('run the platform: API, ingest, stream, delivery to the lake (embedded engines)')
    .option('--config <file>', 'YAML or JSON config file')
    .option('--data <dir>', 'data directory (default ./data, env STRATA_DATA)')
    .option('--port <port>', 'HTTP port (default 8080, env STRATA_PORT; 0 picks a free one)', port)
    .option('--host <host>', 'HTTP address (default 127.0.0.1, env STRATA_HOST)')
    .option('--db <url>', 'PostgreSQL server, postgres://... (env STRATA_DB_URL; default: embedded under the data dir)')
    .option('--no-demo', 'do not start the demo devices')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .action(async (flags: StartFlags) => {
      const config = loadConfig({
        ...(flags.config !== undefined && { file: flags.config }),
        env,
        overrides: {
          ...commonOverrides(flags),
          'http.port': flags.port,
          'http.host': flags.host,
          'db.url': flags.db,
          'log.level': flags.logLevel,
          ...(flags.demo === false && { 'demo.enabled': false }),
        },
      });
      const logger = createLogger(config.log);
      // Signals are handled from the start: one that arrives while engines open (recovery can
      // take a while) stops the platform as soon as it is up, instead of killing it half-open.
      let platform: Platform | undefined;
      let stopping = false;
      const shutdown = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down: no new requests, flushing delivery, committing');
        if (platform) stop(platform);
      };
      const stop = (p: Platform): void => {
        p.stop().then(
          () => {
            logger.info('stopped cleanly');
            logger.flush();
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            logger.flush();
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));

      platform = await startPlatform(config, logger);
      if (platform.newAdminKey) {
        // Printed once, straight to the terminal: keys never go through the logger.
        process.stdout.write(
          `\nAdmin API key (shown once; also saved to ${config.dataDir}/admin.key, mode 0600):\n  ${platform.newAdminKey}\n\n`,
        );
      }
      process.stdout.write(`Strata is running at ${platform.url}  (health: ${platform.url}/health, send data: POST ${platform.url}/v1/ingest)\n`);
      if (stopping) stop(platform);
    });
}
