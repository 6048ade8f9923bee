/**
 * Asynchronous scans (seed 003's `POST /scans`): `submit` records a QUEUED scan and returns at
 * once; one scan runs at a time in this process (so two scans of one account never race on its
 * findings), up to `maxQueued` wait. A scan's credentials live only in the in-memory queue entry:
 * the database keeps regions, services, concurrency and the auth mode, nothing else. Scans left
 * QUEUED or RUNNING by a dead process of this host (or by an earlier run with this process's pid,
 * as a restarted container has) are marked FAILED at start (their credentials are gone); another
 * host's are left to it. `close` stops the running scan at its next AWS call.
 *
 * After a scan: its finding events are appended to the `findings` topic and its resource inventory
 * (one Cloud Resources Inventory Info event per resource) to the `inventory` topic (ids make a retry
 * idempotent), then the findings table is updated in one transaction; delivery takes both topics
 * to the lake's raw zone like every topic. Inventory has a topic of its own: it is a full snapshot
 * every scan (findings are keyed changes to a stored state), another OCSF class and version, read
 * by other consumers (an asset inventory, not a SIEM), so neither has to filter the other out.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Updateable } from 'kysely';
import type { Logger } from 'pino';
import { isProcessAlive } from '@strata/core';
import type { Stream } from '@strata/stream';
import { endpointProblem, type AwsAuth, type AwsConnectionOptions, type StaticKeys } from '../aws/connection.js';
import { scannerErrors } from '../errors.js';
import type { ComplianceFinding } from '../ocsf/compliance-finding.js';
import { toInventoryEvents, type CloudResourcesInventoryInfo } from '../ocsf/inventory-info.js';
import { runScan, SCAN_DEFAULTS, type ScanOptions, type ScanReport } from '../runner.js';
import { SERVICES, type ScanError, type ServiceName } from '../types.js';
import { planScan, writePlan, type ScanDb, type ScansTable, type ScanStatus } from './findings-store.js';

export const FINDINGS_TOPIC = 'findings';
export const INVENTORY_TOPIC = 'inventory';

export interface ScanSubmission {
  regions: string[] | 'all';
  services?: ServiceName[];
  concurrency?: number;
  /** Keys for this scan only; without them, the server's default credential chain. */
  credentials?: StaticKeys;
  assumeRole?: { roleArn: string; externalId?: string };
  /** Region for global calls (default: the service's, else us-east-1). */
  homeRegion?: string;
  /** An emulator's endpoint; accepted only with `credentials` (the server's own never go to an endpoint a caller names). */
  endpoint?: string;
}

export interface ScanView {
  scan_id: string;
  status: ScanStatus;
  request: { regions: string[] | 'all'; services: ServiceName[]; concurrency: number; auth: AwsAuth['mode']; roleArn?: string; endpoint?: string };
  requested_by: string;
  created: string;
  started_at: string | null;
  finished_at: string | null;
  progress: { done: number; total: number };
  account_id: string | null;
  counts: Record<string, unknown>;
  errors: ScanError[];
  api_calls: number;
}

export interface ScanServiceOptions {
  db: ScanDb;
  /** Where finding and inventory events go; without it findings are only stored, inventory only reported. */
  stream?: Stream;
  /** Default `findings`. */
  topic?: string;
  /** Default `inventory`. */
  inventoryTopic?: string;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Scans waiting at most (beyond the running one). Default 8. */
  maxQueued?: number;
  /** Home region, attempts per call (not credentials, not endpoint). */
  connection?: Pick<AwsConnectionOptions, 'homeRegion' | 'maxAttempts'>;
  /** The scan runner (tests substitute it). */
  run?: (opts: ScanOptions) => Promise<ScanReport>;
}

interface Job {
  id: string;
  options: ScanOptions;
}

export class ScanService {
  private readonly queue: Job[] = [];
  private running: Promise<void> | undefined;
  /** Stops the scan in progress (close). */
  private readonly abort = new AbortController();
  private closed = false;
  private readonly topic: string;
  private readonly inventoryTopic: string;
  private readonly run: (opts: ScanOptions) => Promise<ScanReport>;
  /** Names this service in `scans.owner` (host/pid/instance). */
  private readonly instance = randomUUID();

  private constructor(private readonly opts: ScanServiceOptions) {
    this.topic = opts.topic ?? FINDINGS_TOPIC;
    this.inventoryTopic = opts.inventoryTopic ?? INVENTORY_TOPIC;
    this.run = opts.run ?? runScan;
  }

  static async open(opts: ScanServiceOptions): Promise<ScanService> {
    // Scans a dead process of this host left QUEUED or RUNNING will never finish (their credentials are gone).
    // The owner is host/pid/instance: a restarted container's server often gets the same pid (1) as
    // the one before it, so a scan with our pid is stale unless a live service of this process owns it.
    const host = hostname();
    const stale = await opts.db.selectFrom('scans').select(['id', 'owner']).where('status', 'in', ['QUEUED', 'RUNNING']).where('owner', 'like', `${host}/%`).execute();
    const dead = stale.filter((s) => isStale(s.owner.slice(host.length + 1))).map((s) => s.id);
    if (dead.length > 0) {
      await opts.db.updateTable('scans').set({ status: 'FAILED', finished_at: new Date(), errors: interrupted('the server stopped before the scan finished') }).where('id', 'in', dead).execute();
      opts.logger.warn({ scans: dead.length }, 'scans interrupted by a stop marked FAILED');
    }
    const service = new ScanService(opts);
    LIVE_INSTANCES.add(service.instance);
    return service;
  }

  /** Validates, records the scan as QUEUED and queues it; never waits for AWS. */
  async submit(req: ScanSubmission, actor: string): Promise<{ scan_id: string; status: 'QUEUED' }> {
    if (this.closed) throw scannerErrors.STRATA_ERR_SCAN_BUSY({ running: 'all' });
    const bad = submissionProblem(req);
    if (bad) throw scannerErrors.STRATA_ERR_SCAN_BAD_REQUEST({ reason: bad });
    const waiting = this.queue.length;
    if (waiting >= (this.opts.maxQueued ?? 8)) throw scannerErrors.STRATA_ERR_SCAN_BUSY({ running: waiting + 1 });
    const id = randomUUID();
    const auth = authOf(req);
    const services = req.services ?? [...SERVICES];
    const concurrency = req.concurrency ?? SCAN_DEFAULTS.concurrency;
    const request: ScanView['request'] = { regions: req.regions, services, concurrency, auth: auth.mode, ...(req.assumeRole && { roleArn: req.assumeRole.roleArn }), ...(req.endpoint !== undefined && { endpoint: req.endpoint }) };
    await this.opts.db.insertInto('scans').values({ id, status: 'QUEUED', request: JSON.stringify(request), requested_by: actor, owner: `${hostname()}/${process.pid}/${this.instance}`, created: new Date(), started_at: null, finished_at: null, progress_done: 0, progress_total: 0, account_id: null, counts: '{}', errors: '[]', api_calls: 0 }).execute();
    this.queue.push({
      id,
      options: {
        scanId: id,
        regions: req.regions,
        services,
        concurrency,
        connection: { auth, ...this.opts.connection, ...(req.homeRegion !== undefined && { homeRegion: req.homeRegion }), ...(req.endpoint !== undefined && { endpoint: req.endpoint }) },
        logger: this.opts.logger,
      },
    });
    this.opts.logger.info({ scanId: id, regions: req.regions, services, auth: auth.mode, actor }, 'scan queued');
    this.kick();
    return { scan_id: id, status: 'QUEUED' };
  }

  async get(id: string): Promise<ScanView | undefined> {
    const r = await this.opts.db.selectFrom('scans').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) return undefined;
    return {
      scan_id: r.id,
      status: r.status,
      request: r.request as ScanView['request'],
      requested_by: r.requested_by,
      created: r.created.toISOString(),
      started_at: r.started_at?.toISOString() ?? null,
      finished_at: r.finished_at?.toISOString() ?? null,
      progress: { done: r.progress_done, total: r.progress_total },
      account_id: r.account_id,
      counts: r.counts as Record<string, unknown>,
      errors: r.errors as ScanError[],
      api_calls: r.api_calls,
    };
  }

  /** Resolves when the queue is empty and nothing runs (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops taking scans; queued ones are dropped (FAILED); the running one stops after its tasks in flight and records what it did (PARTIAL). */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    const dropped = this.queue.splice(0);
    if (dropped.length > 0) {
      await this.opts.db.updateTable('scans').set({ status: 'FAILED', finished_at: new Date(), errors: interrupted('the server stopped before the scan started') }).where('id', 'in', dropped.map((j) => j.id)).execute();
    }
    await this.idle();
    LIVE_INSTANCES.delete(this.instance);
  }

  private kick(): void {
    if (this.running) return;
    this.running = (async () => {
      while (this.queue.length > 0) await this.execute(this.queue.shift()!);
    })().finally(() => (this.running = undefined));
  }

  private async execute(job: Job): Promise<void> {
    const { db, logger } = this.opts;
    const update = (set: Updateable<ScansTable>) => db.updateTable('scans').set(set).where('id', '=', job.id).execute();
    try {
      await update({ status: 'RUNNING', started_at: new Date() });
      let lastWrite = 0;
      let written: Promise<unknown> = Promise.resolve();
      const progress = { done: 0, total: 0 };
      const report = await this.run({
        ...job.options,
        signal: this.abort.signal,
        onProgress: (done, total) => {
          Object.assign(progress, { done, total });
          // Progress is informative: at most one write a second, never awaited by the scan (the final update below sets it).
          if (Date.now() - lastWrite > 1000) {
            lastWrite = Date.now();
            written = written.then(() => update({ progress_done: done, progress_total: total })).catch((err: unknown) => logger.warn({ err, scanId: job.id }, 'scan progress not recorded'));
          }
        },
      });
      const errors = [...report.errors];
      const plan = await planScan(db, report);
      try {
        await this.publish(this.topic, plan.events.map((e) => ({ key: e.finding_info.uid, id: e.metadata.uid, ts: e.time, event: e })));
        const inventory = report.target ? toInventoryEvents(report.resources, report.results, report.target, report.scanId, Date.parse(report.finishedAt)) : [];
        await this.publish(this.inventoryTopic, inventory.map((e) => ({ key: e.resources[0].uid, id: e.metadata.uid, ts: e.time, event: e })));
        await writePlan(db, plan.rows);
      } catch (err) {
        errors.push({ service: 'regions', region: 'global', kind: 'error', code: 'STRATA_ERR_SCAN_PUBLISH', message: scannerErrors.STRATA_ERR_SCAN_PUBLISH({ id: job.id, reason: (err as Error).message }).message.slice(0, 300) });
        logger.error({ err, scanId: job.id }, 'scan findings not stored; scan again');
      }
      await written; // progress writes, one after another, land before the final one, never after it
      const status: ScanStatus = !report.target || report.completed.length === 0 ? 'FAILED' : errors.length > 0 ? 'PARTIAL' : 'SUCCEEDED';
      await update({
        status,
        finished_at: new Date(),
        account_id: report.target?.accountId ?? null,
        progress_done: progress.done,
        progress_total: progress.total,
        counts: JSON.stringify({ ...report.counts, findings: plan.counts }),
        errors: JSON.stringify(errors),
        api_calls: report.calls.total,
      });
      logger.info({ scanId: job.id, status, account: report.target?.accountId, resources: report.counts.resources, results: report.counts.results, fail: report.counts.fail, errors: errors.length, ...plan.counts }, 'scan finished');
    } catch (err) {
      logger.error({ err, scanId: job.id }, 'scan failed');
      await update({ status: 'FAILED', finished_at: new Date(), errors: JSON.stringify([{ service: 'regions', region: 'global', kind: 'error', code: 'Error', message: String((err as Error).message).slice(0, 300) }]) }).catch(() => undefined);
    }
  }

  private async publish(topic: string, records: readonly { key: string; id: string; ts: number; event: ComplianceFinding | CloudResourcesInventoryInfo }[]): Promise<void> {
    const stream = this.opts.stream;
    if (!stream || records.length === 0) return;
    await stream.describe(topic).catch(() => stream.ensureTopic(topic, { partitions: 1 }));
    for (let i = 0; i < records.length; i += 500) {
      await stream.append(
        topic,
        records.slice(i, i + 500).map(({ event, ...r }) => ({ ...r, value: Buffer.from(JSON.stringify(event)) })),
      );
    }
  }
}

/** The ScanServices open in this process (their ids), so that one never fails another's scans. */
const LIVE_INSTANCES = new Set<string>();

/** Whether a scan owned by `pidAndInstance` (of this host) can no longer finish. */
function isStale(pidAndInstance: string): boolean {
  const [pid, instance] = pidAndInstance.split('/');
  if (Number(pid) === process.pid) return instance === undefined || !LIVE_INSTANCES.has(instance);
  return !isProcessAlive(Number(pid));
}

function interrupted(message: string): string {
  return JSON.stringify([{ service: 'regions', region: 'global', kind: 'error', code: 'Interrupted', message }]);
}

function authOf(req: ScanSubmission): AwsAuth {
  if (req.assumeRole) return { mode: 'assume-role', roleArn: req.assumeRole.roleArn, ...(req.assumeRole.externalId !== undefined && { externalId: req.assumeRole.externalId }), ...(req.credentials && { source: req.credentials }) };
  if (req.credentials) return { mode: 'static', ...req.credentials };
  return { mode: 'default' };
}

/** Why a submission cannot run, or undefined. */
export function submissionProblem(req: ScanSubmission): string | undefined {
  if (req.endpoint !== undefined) {
    if (!req.credentials) return 'endpoint is accepted only with credentials (the server’s own credentials never go to an endpoint named in a request)';
    const bad = endpointProblem(req.endpoint);
    if (bad) return `endpoint: ${bad}`;
  }
  if (req.regions !== 'all' && req.regions.length === 0) return 'regions: name at least one region, or "all"';
  for (const s of req.services ?? []) if (!(SERVICES as readonly string[]).includes(s)) return `services: unknown service ${s}`;
  return undefined;
}
