/**
 * A service scanner: `collect` reads what it needs from AWS into a plain snapshot (paginated; the
 * SDK's retry handles throttling), `evaluate` turns a snapshot into resources and one result per
 * (check, resource) without any I/O, so checks are tested on recorded inputs. A global service
 * (IAM, S3, CloudTrail) is collected once per scan, a regional one once per region.
 *
 * Scopes: a result belongs to the scope `service@<its resource's region>` (`service@global` for
 * account-wide things, IAM, multi-region trails). A completed task covers `service@<region>` for a
 * regional service, and `service@global` plus `covers(...)` for a global one: a later scan closes a
 * stored finding only when it covered that finding's scope, so scanning other regions never closes
 * the findings of buckets (or single-region trails) it did not list.
 */
import type { AwsConnection } from '../aws/connection.js';
import type { CheckResult, CheckStatus, ResourceRef, ScanTarget, ServiceName } from '../types.js';

export interface CollectContext {
  conn: AwsConnection;
  /** The region collected (the home region for a global service). */
  region: string;
  /** Regions the scan covers: a global service reports resources of these only (S3 buckets). */
  regions: readonly string[];
  target: ScanTarget;
  now: Date;
  /** Bound on parallel calls inside one collector (per-bucket, per-key reads). */
  concurrency: number;
}

export interface EvaluateContext {
  region: string;
  target: ScanTarget;
  now: Date;
}

export interface Evaluation {
  resources: ResourceRef[];
  results: CheckResult[];
}

export interface ServiceScanner<S> {
  service: ServiceName;
  scope: 'global' | 'regional';
  /** The catalogue ids this scanner evaluates (a test checks they match the catalogue). */
  checks: readonly string[];
  /** A global scanner's regions whose resources one collect lists in full (S3: the scanned regions; CloudTrail: the home region's own trails). */
  covers?(home: string, regions: readonly string[]): readonly string[];
  collect(ctx: CollectContext): Promise<S>;
  evaluate(snapshot: S, ctx: EvaluateContext): Evaluation;
}

/** The outcome of one read that may legitimately find nothing (no policy, no encryption config). */
export type Read<T> = { ok: true; value: T } | { ok: false; missing: true } | { ok: false; missing: false; code: string };

/** Runs a read; `missing` codes mean "not configured", any other error is kept as its code (the check answers Warning). */
export async function read<T>(call: () => Promise<T>, missing: readonly string[]): Promise<Read<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    const code = errorCode(err);
    if (missing.includes(code)) return { ok: false, missing: true };
    if (isFatal(code)) throw err;
    return { ok: false, missing: false, code };
  }
}

/** Errors that mean the whole service is out of reach (or the scan was stopped): the collector fails and the scan records it. */
function isFatal(code: string): boolean {
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'UnrecognizedClientException' || code === 'InvalidClientTokenId' || code === 'ExpiredToken' || code === 'Aborted';
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { name?: string; code?: string; Code?: string; cause?: unknown };
    if (typeof e.code === 'string' && e.code.startsWith('E')) return e.code;
    if (typeof e.Code === 'string') return e.Code;
    if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
    if (typeof e.code === 'string') return e.code;
    if (e.cause) return errorCode(e.cause);
  }
  return 'Error';
}

/** Maps with at most `limit` calls in flight, results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Collects the results of one evaluation. */
export class Results {
  readonly resources: ResourceRef[] = [];
  readonly results: CheckResult[] = [];
  private readonly seen = new Set<string>();

  resource(ref: ResourceRef): ResourceRef {
    if (!this.seen.has(ref.uid)) {
      this.seen.add(ref.uid);
      this.resources.push(ref);
    }
    return ref;
  }

  add(checkId: string, resource: ResourceRef, status: CheckStatus, detail: string): void {
    this.resource(resource);
    this.results.push({ checkId, resource, status, detail });
  }

  /** Pass when `ok`, else Fail; `detail` says what was seen either way. */
  check(checkId: string, resource: ResourceRef, ok: boolean, detail: string): void {
    this.add(checkId, resource, ok ? 'PASS' : 'FAIL', detail);
  }

  /** A check whose input could not be read: Warning, naming the error. */
  unreadable(checkId: string, resource: ResourceRef, what: string, code: string): void {
    this.add(checkId, resource, 'WARNING', `could not read ${what}: ${code}`);
  }

  done(): Evaluation {
    return { resources: this.resources, results: this.results };
  }
}

export const DAY_MS = 86_400_000;

export function accountResource(target: ScanTarget, region: string): ResourceRef {
  return { uid: `arn:${target.partition}:::${target.accountId}`, type: 'AWS::::Account', name: target.accountId, region };
}

/** AWS tags as a plain map, or nothing to spread when there are none: `{ ...tagsOf(x.Tags) }`. */
export function tagsOf(tags: { Key?: string; Value?: string }[] | undefined): { tags: Record<string, string> } | undefined {
  const pairs = (tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key!, t.Value ?? ''] as const);
  return pairs.length > 0 ? { tags: Object.fromEntries(pairs) } : undefined;
}

export function nameTag(tags: { Key?: string; Value?: string }[] | undefined): string | undefined {
  return tags?.find((t) => t.Key === 'Name')?.Value;
}
