import { lakeErrors } from '../errors.js';

/**
 * A flush plan: written before a flush's objects, so a restart can redo exactly that flush
 * (see delivery.ts, "Recovery"). One state object per (group, topic, partition), overwritten by
 * each flush.
 */
export interface FlushPlan {
  version: 1;
  group: string;
  topic: string;
  partition: number;
  first: number;
  last: number;
  /** When the plan was made (informative only). */
  createdAt: string;
}

export function encodePlan(plan: FlushPlan): Buffer {
  return Buffer.from(`${JSON.stringify(plan)}\n`, 'utf8');
}

const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses a state object; throws STRATA_ERR_LAKE_STATE_CORRUPT when it is not a plan for `partition`. */
export function parsePlan(key: string, body: Buffer, partition: number): FlushPlan {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw lakeErrors.STRATA_ERR_LAKE_STATE_CORRUPT({ key, reason: 'not JSON' }, err);
  }
  const plan = value as Partial<FlushPlan> | null;
  if (
    plan === null ||
    typeof plan !== 'object' ||
    plan.version !== 1 ||
    plan.partition !== partition ||
    !isOffset(plan.first) ||
    !isOffset(plan.last) ||
    plan.last < plan.first
  ) {
    throw lakeErrors.STRATA_ERR_LAKE_STATE_CORRUPT({ key, reason: 'not a version 1 plan for this partition with 0 <= first <= last' });
  }
  return plan as FlushPlan;
}
