/**
 * The resource inventory of a scan as OCSF **Cloud Resources Inventory Info** events (class_uid
 * 5023, category Discovery 5, activity 2 Collect: read from the provider's APIs), one event per
 * resource. That class first appears in OCSF **1.4.0**
 * (https://schema.ocsf.io/1.4.0/classes/cloud_resources_inventory_info); 1.1.0, the findings'
 * version, has only device-centred Discovery classes (Device Inventory Info 5001 wants a `device`),
 * which fit neither a bucket nor an IAM user. So these events say `metadata.version` 1.4.0 while
 * the findings stay 1.1.0; the attributes used here (base event, `cloud`, `region`,
 * `resources[]` resource_details with `tags` as key_value_object and `data`) are all in 1.4.0.
 *
 * `resources[0].data.observed` holds what the checks read on the resource, check id → the one-line
 * detail of its result (e.g. "storage not encrypted", "HttpTokens optional"): values only, never a
 * secret (result details never carry one; Secrets Manager is listed, never read).
 */
import { createHash } from 'node:crypto';
import type { CheckResult, ResourceRef, ScanTarget } from '../types.js';
import { PRODUCT } from './compliance-finding.js';

export const INVENTORY_OCSF_VERSION = '1.4.0';
export const INVENTORY_INFO_CLASS_UID = 5023;
export const DISCOVERY_CATEGORY_UID = 5;
/** Discovery activity 2: the inventory was collected by querying the provider (1 would be Log). */
const COLLECT = 2;

export interface InventoryResource {
  uid: string;
  name: string;
  type: string;
  region?: string;
  cloud_partition: string;
  owner: { account: { uid: string; type_id: 10; type: 'AWS Account' } };
  tags?: { name: string; value: string }[];
  data: { service: string; observed: Record<string, string> };
}

export interface CloudResourcesInventoryInfo {
  activity_id: typeof COLLECT;
  activity_name: 'Collect';
  category_uid: typeof DISCOVERY_CATEGORY_UID;
  category_name: 'Discovery';
  class_uid: typeof INVENTORY_INFO_CLASS_UID;
  class_name: 'Cloud Resources Inventory Info';
  type_uid: number;
  type_name: string;
  severity_id: 1;
  severity: 'Informational';
  time: number;
  message: string;
  metadata: { version: string; product: typeof PRODUCT; uid: string; log_name: 'inventory'; correlation_uid: string; profiles: ['cloud'] };
  cloud: { provider: 'AWS'; region?: string; account: { uid: string; type_id: 10; type: 'AWS Account' } };
  region?: string;
  resources: [InventoryResource];
}

/** The event's id within a scan: a repeat of the same scan's publication is idempotent. */
export function inventoryEventUid(scanId: string, resourceUid: string): string {
  return `${scanId}:inventory:${createHash('sha256').update(resourceUid).digest('hex').slice(0, 32)}`;
}

/** One event per resource of the scan, each carrying what the checks observed on it. */
export function toInventoryEvents(resources: readonly ResourceRef[], results: readonly CheckResult[], target: ScanTarget, scanId: string, time: number): CloudResourcesInventoryInfo[] {
  const observed = new Map<string, Record<string, string>>();
  for (const r of results) {
    const seen = observed.get(r.resource.uid) ?? {};
    seen[r.checkId] = r.detail;
    observed.set(r.resource.uid, seen);
  }
  const done = new Set<string>();
  const events: CloudResourcesInventoryInfo[] = [];
  for (const r of resources) {
    if (done.has(r.uid)) continue; // a resource two tasks list (a multi-region trail) is one inventory entry
    done.add(r.uid);
    events.push(toInventoryInfo(r, observed.get(r.uid) ?? {}, target, scanId, time));
  }
  return events;
}

export function toInventoryInfo(r: ResourceRef, observed: Record<string, string>, target: ScanTarget, scanId: string, time: number): CloudResourcesInventoryInfo {
  const account = { uid: target.accountId, type_id: 10 as const, type: 'AWS Account' as const };
  const regional = r.region !== 'global';
  const tags = Object.entries(r.tags ?? {}).map(([name, value]) => ({ name, value }));
  return {
    activity_id: COLLECT,
    activity_name: 'Collect',
    category_uid: DISCOVERY_CATEGORY_UID,
    category_name: 'Discovery',
    class_uid: INVENTORY_INFO_CLASS_UID,
    class_name: 'Cloud Resources Inventory Info',
    type_uid: INVENTORY_INFO_CLASS_UID * 100 + COLLECT,
    type_name: 'Cloud Resources Inventory Info: Collect',
    severity_id: 1,
    severity: 'Informational',
    time,
    message: `${r.type} ${r.name}`,
    metadata: { version: INVENTORY_OCSF_VERSION, product: PRODUCT, uid: inventoryEventUid(scanId, r.uid), log_name: 'inventory', correlation_uid: scanId, profiles: ['cloud'] },
    cloud: { provider: 'AWS', ...(regional && { region: r.region }), account },
    ...(regional && { region: r.region }),
    resources: [
      {
        uid: r.uid,
        name: r.name,
        type: r.type,
        ...(regional && { region: r.region }),
        cloud_partition: target.partition,
        owner: { account },
        ...(tags.length > 0 && { tags }),
        data: { service: serviceOf(r.type), observed },
      },
    ],
  };
}

/** `AWS::S3::Bucket` → `s3`; the account pseudo-type `AWS::::Account` → `account`. */
function serviceOf(type: string): string {
  return type.split('::')[1]?.toLowerCase() || 'account';
}
