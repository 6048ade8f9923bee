/**
 * Runs a scan: resolves the account (STS) and the regions, then every (service, region) task —
 * global services once, in the home region — with at most `concurrency` tasks at a time. A task
 * that fails (access denied, unreachable, unimplemented) becomes a scan error and the others go
 * on: the scan always returns its report (`{results, errors}`), never dies half-way. Only tasks
 * that completed are listed in `completed`, so a store closes earlier findings only where this
 * scan actually looked.
 */
import { randomUUID } from 'node:crypto';
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { Logger } from 'pino';
import { AwsConnection, describeAuth, type AwsConnectionOptions } from './aws/connection.js';
import { checkById } from './catalogue.js';
import { errorCode, type ServiceScanner } from './services/service.js';
import { SCANNERS } from './services/index.js';
import { SERVICES, SEVERITIES, type CheckResult, type ResourceRef, type ScanError, type ScanErrorKind, type ScanTarget, type ServiceName, type Severity } from './types.js';

export interface ScanRequest {
  /** Region names, or `all` (the regions enabled for the account, from EC2 DescribeRegions). */
  regions: readonly string[] | 'all';
  /** Default: every service. */
  services?: readonly ServiceName[];
  /** (service, region) tasks in flight at once. Default 4. */
  concurrency?: number;
}

export interface ScanOptions extends ScanRequest {
  connection: AwsConnectionOptions;
  scanId?: string;
  now?: Date;
  logger?: Pick<Logger, 'warn'>;
  /** Called as tasks finish. */
  onProgress?: (done: number, total: number) => void;
  /** Stops the scan: tasks not started, and tasks in flight at their next AWS call, are reported as `Aborted` errors (a call in flight has a 30 s timeout). */
  signal?: AbortSignal;
  /** Stops the scan the same way after this long. Default 1 hour. */
  timeoutMs?: number;
}

export interface ScanCounts {
  resources: number;
  results: number;
  pass: number;
  warning: number;
  fail: number;
  /** Failed results per check severity. */
  failBySeverity: Record<Severity, number>;
}

export interface ScanReport {
  scanId: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Null when the credentials could not be resolved (see errors). */
  target: ScanTarget | null;
  auth: ReturnType<typeof describeAuth>;
  regions: string[];
  services: ServiceName[];
  /** The scopes (`service@region`, `service@global`) the completed tasks covered: see ./services/service.ts. */
  completed: string[];
  resources: ResourceRef[];
  results: CheckResult[];
  errors: ScanError[];
  counts: ScanCounts;
  calls: { total: number; byOperation: Record<string, number> };
}

export const SCAN_DEFAULTS = { concurrency: 4, timeoutMs: 3_600_000 } as const;

export function scopeKey(service: string, region: string): string {
  return `${service}@${region}`;
}

export async function runScan(opts: ScanOptions): Promise<ScanReport> {
  const started = new Date();
  const now = opts.now ?? started;
  const scanId = opts.scanId ?? randomUUID();
  const services = [...new Set(opts.services ?? SERVICES)];
  const concurrency = Math.max(1, opts.concurrency ?? SCAN_DEFAULTS.concurrency);
  const deadline = AbortSignal.timeout(opts.timeoutMs ?? SCAN_DEFAULTS.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const conn = new AwsConnection(opts.connection, signal);
  const secrets = secretsOf(opts.connection);
  const errors: ScanError[] = [];
  const resources: ResourceRef[] = [];
  const results: CheckResult[] = [];
  const completed: string[] = [];
  let target: ScanTarget | null = null;
  let regions: string[] = opts.regions === 'all' ? [] : [...opts.regions];
  try {
    try {
      const id = await conn.identity();
      target = { accountId: id.accountId, partition: id.partition };
    } catch (err) {
      errors.push(scanError('sts', conn.homeRegion, err, secrets));
    }
    if (target && opts.regions === 'all') {
      try {
        const ec2 = conn.client('ec2', conn.homeRegion, (c) => new EC2Client(c));
        regions = ((await ec2.send(new DescribeRegionsCommand({}))).Regions ?? []).map((r) => r.RegionName!).filter(Boolean).sort();
      } catch (err) {
        errors.push(scanError('regions', conn.homeRegion, err, secrets));
      }
    }
    if (target) {
      const tasks: { scanner: ServiceScanner<unknown>; region: string; scope: string }[] = [];
      for (const name of services) {
        const scanner = SCANNERS[name];
        if (scanner.scope === 'global') tasks.push({ scanner, region: conn.homeRegion, scope: 'global' });
        else for (const region of regions) tasks.push({ scanner, region, scope: region });
      }
      let next = 0;
      let done = 0;
      const t = target;
      const worker = async (): Promise<void> => {
        while (next < tasks.length && !signal.aborted) {
          const task = tasks[next++]!;
          const { scanner, region } = task;
          try {
            const snapshot = await scanner.collect({ conn, region, regions, target: t, now, concurrency });
            const ev = scanner.evaluate(snapshot, { region, target: t, now });
            resources.push(...ev.resources);
            results.push(...ev.results);
            completed.push(scopeKey(scanner.service, task.scope));
            for (const r of scanner.covers?.(conn.homeRegion, regions) ?? []) completed.push(scopeKey(scanner.service, r));
          } catch (err) {
            const e = scanError(scanner.service, task.scope, err, secrets);
            errors.push(e);
            opts.logger?.warn({ service: e.service, region: e.region, kind: e.kind, code: e.code }, 'scan task failed; the scan goes on');
          }
          opts.onProgress?.(++done, tasks.length);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, tasks.length)) }, worker));
      for (const task of tasks.slice(next)) errors.push({ service: task.scanner.service, region: task.scope, kind: 'error', code: 'Aborted', message: 'the scan was stopped before this task' });
    }
  } finally {
    conn.close();
  }
  const finished = new Date();
  return {
    scanId,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    target,
    auth: describeAuth(opts.connection.auth),
    regions,
    services,
    completed: [...new Set(completed)].sort(),
    resources,
    results,
    errors,
    counts: countResults(resources.length, results),
    calls: { total: conn.calls.total, byOperation: conn.calls.byOperation() },
  };
}

export function countResults(resources: number, results: readonly CheckResult[]): ScanCounts {
  const failBySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  const counts = { resources, results: results.length, pass: 0, warning: 0, fail: 0, failBySeverity };
  for (const r of results) {
    if (r.status === 'PASS') counts.pass++;
    else if (r.status === 'WARNING') counts.warning++;
    else {
      counts.fail++;
      const sev = checkById(r.checkId)?.severity;
      if (sev) failBySeverity[sev]++;
    }
  }
  return counts;
}

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'AuthFailure', 'UnauthorizedAccess', 'InvalidClientTokenId', 'UnrecognizedClientException', 'ExpiredToken', 'SignatureDoesNotMatch', 'InvalidAccessKeyId', 'CredentialsProviderError', 'OptInRequired']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'EAI_AGAIN', 'TimeoutError', 'RequestTimeout']);
const UNSUPPORTED = new Set(['NotImplemented', 'NotImplementedError', 'InvalidAction', 'UnknownOperationException', 'UnsupportedOperation']);

function kindOf(code: string, status: number | undefined): ScanErrorKind {
  if (ACCESS_DENIED.has(code) || status === 403) return 'access_denied';
  if (UNREACHABLE.has(code)) return 'unreachable';
  if (UNSUPPORTED.has(code) || status === 501) return 'unsupported';
  return 'error';
}

/** A scan error, its message bounded and cleared of anything that looks like a key or is one of ours. */
export function scanError(service: ScanError['service'], region: string, err: unknown, secrets: readonly string[] = []): ScanError {
  const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  // An answer the SDK could not parse (an HTML error page) has no AWS code: its HTTP status is the best one.
  const raw = errorCode(err);
  const code = (raw === 'Error' || raw === 'SyntaxError') && status !== undefined ? `HTTP ${status}` : raw;
  let message = err instanceof Error ? err.message : String(err);
  for (const s of secrets) if (s.length >= 4) message = message.split(s).join('[redacted]');
  message = message.replace(/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '[redacted]').slice(0, 300);
  return { service, region, kind: kindOf(code, status), code, message };
}

function secretsOf(c: AwsConnectionOptions): string[] {
  const a = c.auth;
  if (a.mode === 'static') return [a.accessKeyId, a.secretAccessKey, a.sessionToken ?? ''];
  if (a.mode === 'assume-role') return [a.externalId ?? '', a.source?.accessKeyId ?? '', a.source?.secretAccessKey ?? '', a.source?.sessionToken ?? ''];
  return [];
}
