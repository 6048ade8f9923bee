import cluster from 'node:cluster';
import { InvalidArgumentError, type Command } from 'commander';
import type { Logger } from 'pino';
import { loadConfig, ROLES } from '@strata/config';
import { createLogger, startPlatform, type Platform } from '@strata/server';
import { commonOverrides, list, port, type CommonFlags } from '../options.js';
import { ensureDashboardAdmin } from './dashboard-user.js';

/** Set by the primary on each ingest process it forks: the member's index (names its MQTT bridge session). */
const MEMBER_ENV = 'STRATA_INGEST_MEMBER';

interface StartFlags extends CommonFlags {
  port?: number;
  host?: string;
  db?: string;
  demo: boolean;
  logLevel?: string;
  roles?: string[];
  environment?: string;
  mqttPort?: number;
  mqtt: boolean;
  processes?: number;
}

export function registerStart(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('start')
    .description('run the platform: ingest (HTTP, MQTT), stream, delivery to the lake, state, rules, lake jobs, API (by default all roles, on embedded engines)')
    .option('--config <file>', 'YAML or JSON config file')
    .option('--data <dir>', 'data directory (default ./data, env STRATA_DATA)')
    .option('--port <port>', 'HTTP port (default 8080, env STRATA_PORT; 0 picks a free one)', port)
    .option('--host <host>', 'HTTP address (default 127.0.0.1, env STRATA_HOST)')
    .option('--db <url>', 'PostgreSQL server, postgres://... (env STRATA_DB_URL; default: embedded under the data dir)')
    .option('--roles <list>', `roles this process runs, comma-separated: ${ROLES.join(',')} (default all, env STRATA_ROLES)`, list)
    .option('--environment <name>', 'dev, staging, prod...: suffixes shared resource names (env STRATA_ENVIRONMENT)')
    .option('--mqtt-port <port>', 'MQTT broker port of the ingest role (default 1883; 0 picks a free one)', port)
    .option('--no-mqtt', 'no MQTT broker in the ingest role')
    .option('--processes <n>', 'ingest processes sharing the ports (with --roles ingest, NATS and a PostgreSQL server)', positiveInteger)
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
          roles: flags.roles,
          environment: flags.environment,
          'mqtt.port': flags.mqttPort,
          'ingest.processes': flags.processes,
          ...(flags.mqtt === false && { 'mqtt.enabled': false }),
          ...(flags.demo === false && { 'demo.enabled': false }),
        },
      });
      const logger = createLogger(config.log);
      if (config.ingest.processes > 1 && cluster.isPrimary) return superviseIngest(config.ingest.processes, logger);
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

      platform = await startPlatform(config, logger, { member: Number(env[MEMBER_ENV] ?? 0) });
      if (platform.newAdminKey) {
        // Printed once, straight to the terminal: keys never go through the logger.
        process.stdout.write(
          `\nAdmin API key (shown once; also saved to ${config.dataDir}/admin.key, mode 0600):\n  ${platform.newAdminKey}\n\n`,
        );
      }
      // The demo's sign-in: with the demo devices (npm start), not in a deployment (--no-demo), where the first admin is made with `strata users create`.
      const web = config.roles.includes('web') && config.roles.includes('api') && config.demo.enabled;
      const login = web ? await ensureDashboardAdmin(platform, config.dataDir) : undefined;
      if (login?.password) {
        // Printed once, like the admin key: passwords never go through the logger.
        process.stdout.write(`Dashboard sign-in (shown once; also saved to ${login.file}, mode 0600):\n  user ${login.username}  password ${login.password}\n\n`);
      }
      const mqtt = platform.mqttPort !== undefined ? `, MQTT: mqtt://${config.mqtt.host}:${platform.mqttPort} devices/{id}/telemetry` : '';
      process.stdout.write(`Strata is running at ${platform.url}  (roles: ${config.roles.join(',')}; health: ${platform.url}/health${config.roles.includes('ingest') ? `, send data: POST ${platform.url}/v1/ingest` : ''}${mqtt})\n`);
      if (config.roles.includes('web')) {
        process.stdout.write(`Dashboard: ${platform.url}/${login && !login.password ? `  (user ${login.username}, password in ${login.file})` : ''}\n`);
      }
      if (stopping) stop(platform);
    });
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** A process that dies sooner than this after its start failed at starting. */
const FAST_FAILURE_MS = 10_000;
/** Consecutive fast failures of one member after which the supervisor gives up (exit 1). */
const MAX_FAST_FAILURES = 5;

/**
 * `ingest.processes` > 1: this process only supervises. It forks that many ingest processes,
 * which share the HTTP and MQTT ports (Node cluster hands connections out), restarts one that
 * dies (after 1 s, doubling up to 30 s while it keeps dying at start; after 5 such failures in a
 * row it stops everything and exits 1), and on SIGTERM/SIGINT stops them all and exits once they
 * have.
 */
function superviseIngest(processes: number, logger: Logger): void {
  let stopping = false;
  const members = new Map<number, { member: number; started: number }>(); // by cluster worker id
  const fastFailures = new Map<number, number>(); // by member
  const fork = (member: number): void => {
    if (stopping) return;
    const worker = cluster.fork({ [MEMBER_ENV]: String(member) });
    members.set(worker.id, { member, started: Date.now() });
  };
  const stopAll = (): void => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  cluster.on('exit', (worker, code, signal) => {
    const { member, started } = members.get(worker.id)!;
    members.delete(worker.id);
    if (stopping) {
      if (members.size === 0) {
        logger.info('every ingest process stopped');
        logger.flush();
        process.exit(process.exitCode ?? 0);
      }
      return;
    }
    const failures = Date.now() - started < FAST_FAILURE_MS ? (fastFailures.get(member) ?? 0) + 1 : 0;
    fastFailures.set(member, failures);
    if (failures >= MAX_FAST_FAILURES) {
      logger.error({ member, code, signal, failures }, 'ingest process keeps failing at start; stopping');
      process.exitCode = 1;
      stopping = true;
      stopAll();
      if (members.size === 0) process.exit(1);
      return;
    }
    const delayMs = Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
    logger.error({ member, code, signal, restartInMs: delayMs }, 'ingest process died; starting another');
    setTimeout(() => fork(member), delayMs); // not unref'd: the supervisor lives while it has members to restart
  });
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping the ingest processes');
    stopAll();
    if (members.size === 0) process.exit(0);
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  for (let member = 0; member < processes; member++) fork(member);
  logger.info({ processes }, 'ingest processes started');
}
