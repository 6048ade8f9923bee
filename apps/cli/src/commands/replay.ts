import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '@strata/config';
import { lakeErrors, replayRaw, replayWindow, REPLAY_DEFAULTS, type ReplayReport } from '@strata/lake';
import { createLogger } from '@strata/server';
import { openLocalStore } from '@strata/storage';
import { openEmbeddedStream, streamErrors } from '@strata/stream';
import { commonOverrides, list, type CommonFlags } from '../options.js';
import { UsageError } from '../run.js';

export interface ReplayFlags extends CommonFlags {
  from: string;
  since: string;
  until?: string;
  devices?: string[];
  topic: string;
  url?: string;
  adminKey?: string;
  json?: boolean;
  logLevel?: string;
}

export function registerReplay(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('replay')
    .description('re-publish raw-zone events to the stream (backfills, recomputing alerts); event ids are kept, so nothing doubles downstream')
    .requiredOption('--from <zone>', 'where to read events from: raw (the lake raw zone)')
    .requiredOption('--since <time>', 'first event time replayed, RFC 3339 (e.g. 2025-12-04T10:00:00Z) or a UTC date')
    .option('--until <time>', 'replay event times before this one (default: no end)')
    .option('--devices <list>', 'only these devices, comma-separated', list)
    .option('--topic <name>', 'topic whose raw zone is read and which is written', REPLAY_DEFAULTS.topic)
    .option('--data <dir>', 'data directory (server stopped; default ./data, env STRATA_DATA)')
    .option('--config <file>', 'YAML or JSON config file')
    .option('--url <url>', 'replay inside a running server instead, e.g. http://127.0.0.1:8080')
    .option('--admin-key <key>', 'admin key for --url (env STRATA_ADMIN_KEY; never shown in --help)')
    .option('--json', 'print the counts as JSON')
    .option('--log-level <level>', 'log level of the replay, to stderr (default warn)')
    .action(async (flags: ReplayFlags) => {
      const report = await replay(flags, env);
      process.stdout.write(flags.json ? JSON.stringify(report) + '\n' : describe(report));
      if (!flags.json && flags.url === undefined && report.appended > 0) process.stdout.write('the platform takes them in (state, rules, delivery) at its next start\n');
      if (report.error) {
        throw lakeErrors.STRATA_ERR_LAKE_JOB_FAILED({ layer: 'replay', reason: `${report.error.message}; run it again with --since ${report.error.resumeSince}` });
      }
    });
}

function describe(r: ReplayReport): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return (
    `replayed ${n(r.events)} events from ${n(r.objects)} raw objects: ${n(r.appended)} appended, ${n(r.duplicates)} already in the stream\n` +
    `skipped ${n(r.skipped)} outside the window or devices, ${n(r.invalid)} invalid lines, ${n(r.unreadable)} unreadable objects\n`
  );
}

/**
 * Runs a replay: on the data dir's embedded stream and lake (the server must be stopped: it holds
 * the stream's lock), or inside a running server through `POST /v1/admin/replay` with `--url`.
 * The report has `error` set when the replay stopped before the end.
 */
export async function replay(flags: ReplayFlags, env: NodeJS.ProcessEnv): Promise<ReplayReport> {
  if (flags.from !== 'raw') throw new UsageError(`--from ${flags.from}: only raw (the lake raw zone) can be replayed`);
  let window: { since: number; until?: number };
  try {
    window = replayWindow({ since: flags.since, until: flags.until });
  } catch (err) {
    if (!lakeErrors.STRATA_ERR_LAKE_BAD_OPTION.is(err)) throw err;
    throw new UsageError(`--${String(err.details.option)}: ${String(err.details.reason)}`);
  }
  return flags.url !== undefined ? remote({ ...flags, adminKey: flags.adminKey ?? env.STRATA_ADMIN_KEY }) : local(flags, env, window);
}

async function local(flags: ReplayFlags, env: NodeJS.ProcessEnv, window: { since: number; until?: number }): Promise<ReplayReport> {
  const config = loadConfig({ ...(flags.config !== undefined && { file: flags.config }), env, overrides: commonOverrides(flags) });
  if (!existsSync(join(config.dataDir, 'lake'))) throw new UsageError(`no lake in ${config.dataDir}: give the data directory with --data`);
  const streamDir = join(config.dataDir, 'stream');
  const stream = await openEmbeddedStream({ dir: streamDir, segmentBytes: config.stream.segmentBytes, maxPendingBytes: config.stream.maxPendingBytes }).catch((err: unknown) => {
    if (!streamErrors.STRATA_ERR_STREAM_LOCKED.is(err)) throw err;
    throw new UsageError(`a running server holds ${streamDir}: replay through it with --url URL --admin-key KEY`);
  });
  const abort = new AbortController();
  const interrupt = (): void => abort.abort('interrupted');
  process.once('SIGINT', interrupt);
  try {
    await stream.ensureTopic(flags.topic, {
      partitions: config.stream.partitions,
      retentionMs: config.stream.retentionMs,
      retentionBytes: config.stream.retentionBytes,
      dedupWindowMs: config.stream.dedupWindowMs,
    });
    const store = await openLocalStore({ root: join(config.dataDir, 'lake') });
    try {
      return await replayRaw({
        store,
        stream,
        topic: flags.topic,
        ...window,
        ...(flags.devices && { devices: flags.devices }),
        // Warnings (invalid lines, unreadable objects) go to stderr, keeping stdout for the counts.
        logger: createLogger({ level: flags.logLevel ?? 'warn', pretty: false }, process.stderr).child({ component: 'replay' }),
        signal: abort.signal,
      });
    } finally {
      await store.close();
    }
  } finally {
    process.off('SIGINT', interrupt);
    await stream.close();
  }
}

/** `POST /v1/admin/replay`; node:http rather than fetch, whose 300 s header timeout a long replay can exceed. */
async function remote(flags: ReplayFlags): Promise<ReplayReport> {
  if (!flags.adminKey) throw new UsageError('--url needs --admin-key (or STRATA_ADMIN_KEY)');
  if (flags.topic !== REPLAY_DEFAULTS.topic) throw new UsageError(`--topic ${flags.topic}: a server replays its ${REPLAY_DEFAULTS.topic} topic only; replay other topics with the server stopped`);
  let url: URL;
  try {
    url = new URL('/v1/admin/replay', flags.url);
  } catch {
    throw new UsageError(`--url ${flags.url}: not a URL`);
  }
  const body = JSON.stringify({ since: flags.since, ...(flags.until !== undefined && { until: flags.until }), ...(flags.devices && { devices: flags.devices }) });
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      { method: 'POST', headers: { authorization: `Bearer ${flags.adminKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => reject(lakeErrors.STRATA_ERR_LAKE_JOB_FAILED({ layer: 'replay', reason: `cannot reach ${url.origin}: ${err.message}` })));
    req.end(body);
  });
  let json: (ReplayReport & { error?: { code: string; message: string }; report?: ReplayReport }) | undefined;
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    json = undefined;
  }
  if (status === 200 && json) return json;
  // 503 with a report: the replay stopped half-way (the report says where to resume).
  if (json?.report) return json.report;
  const message = `${status} ${json?.error?.message ?? text.slice(0, 200)} [${json?.error?.code ?? 'HTTP'}]`;
  if (status >= 400 && status < 500) throw new UsageError(message);
  throw lakeErrors.STRATA_ERR_LAKE_JOB_FAILED({ layer: 'replay', reason: message });
}
