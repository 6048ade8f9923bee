/**
 * Results as OCSF Compliance Findings (class_uid 2003, category Findings), schema version 1.1.0
 * (https://schema.ocsf.io/1.1.0/classes/compliance_finding): one finding per (check, resource),
 * its `compliance.status_id` the check's outcome (1 Pass, 2 Warning, 3 Fail), `activity_id` what
 * happened to the finding (1 Create, 2 Update, 3 Close), and the finding's own `status_id` its
 * lifecycle (1 New while it fails, 4 Resolved once it passes or its resource is gone).
 *
 * The checked resource is `resource` (one resource_details): that is the attribute OCSF 1.1.0's
 * Compliance Finding defines. `resources` (an array) only arrived in 1.3.0, when `resource` was
 * deprecated, so it is not a 1.1.0 attribute of this class (docs/scanner.md#sources).
 */
import { createHash } from 'node:crypto';
import { checkById } from '../catalogue.js';
import { SEVERITIES, type CheckResult, type CheckStatus, type ResourceRef, type ScanTarget } from '../types.js';

export const OCSF_VERSION = '1.1.0';
export const COMPLIANCE_FINDING_CLASS_UID = 2003;
export const FINDINGS_CATEGORY_UID = 2;
export const PRODUCT = { name: 'Strata scanner', vendor_name: 'Strata', version: '0.1.0' } as const;

export const ACTIVITIES = { 1: 'Create', 2: 'Update', 3: 'Close' } as const;
export type ActivityId = keyof typeof ACTIVITIES;
export const COMPLIANCE_STATUS_IDS: Readonly<Record<CheckStatus, 1 | 2 | 3>> = { PASS: 1, WARNING: 2, FAIL: 3 };
export const COMPLIANCE_STATUS_NAMES = { 1: 'Pass', 2: 'Warning', 3: 'Fail' } as const;

export interface OcsfResource {
  uid: string;
  type: string;
  name: string;
  region?: string;
  cloud_partition: string;
  owner: { account: { uid: string; type_id: 10; type: 'AWS Account' } };
}

export interface ComplianceFinding {
  activity_id: ActivityId;
  activity_name: string;
  category_uid: 2;
  category_name: 'Findings';
  class_uid: 2003;
  class_name: 'Compliance Finding';
  type_uid: number;
  type_name: string;
  severity_id: number;
  severity: string;
  status_id: 1 | 4;
  status: 'New' | 'Resolved';
  time: number;
  message: string;
  metadata: { version: string; product: typeof PRODUCT; uid: string; log_name: 'findings'; correlation_uid: string; profiles: ['cloud'] };
  cloud: { provider: 'AWS'; region?: string; account: { uid: string; type_id: 10; type: 'AWS Account' } };
  finding_info: { uid: string; title: string; desc: string; types: string[]; first_seen_time: number; last_seen_time: number; modified_time: number };
  compliance: { standards: string[]; requirements: string[]; control: string; status_id: 1 | 2 | 3; status: string; status_detail: string };
  resource: OcsfResource;
  remediation: { desc: string };
  unmapped: { dimension: string; check_id: string; service: string };
}

/** The finding's stable id: the same check on the same resource in the same account is one finding across scans. */
export function findingUid(accountId: string, checkId: string, resourceUid: string): string {
  return createHash('sha256').update(`${accountId}\u0000${checkId}\u0000${resourceUid}`).digest('hex').slice(0, 32);
}

export interface FindingTimes {
  /** Event time (ms): when this scan saw it. */
  time: number;
  firstSeen: number;
}

/** One result as a Compliance Finding; `activity` says whether the finding is new, updated or closed. */
export function toComplianceFinding(result: CheckResult, target: ScanTarget, scanId: string, activity: ActivityId, times: FindingTimes): ComplianceFinding {
  const check = checkById(result.checkId);
  if (!check) throw new Error(`unknown check ${result.checkId}`);
  const severityId = SEVERITIES.indexOf(check.severity) + 1;
  const statusId = COMPLIANCE_STATUS_IDS[result.status];
  const open = result.status !== 'PASS' && activity !== 3;
  const account = { uid: target.accountId, type_id: 10 as const, type: 'AWS Account' as const };
  const uid = findingUid(target.accountId, check.id, result.resource.uid);
  return {
    activity_id: activity,
    activity_name: ACTIVITIES[activity],
    category_uid: FINDINGS_CATEGORY_UID,
    category_name: 'Findings',
    class_uid: COMPLIANCE_FINDING_CLASS_UID,
    class_name: 'Compliance Finding',
    type_uid: COMPLIANCE_FINDING_CLASS_UID * 100 + activity,
    type_name: `Compliance Finding: ${ACTIVITIES[activity]}`,
    severity_id: severityId,
    severity: capitalise(check.severity),
    status_id: open ? 1 : 4,
    status: open ? 'New' : 'Resolved',
    time: times.time,
    message: `${check.title}: ${COMPLIANCE_STATUS_NAMES[statusId]} on ${result.resource.name} (${result.detail})`,
    metadata: { version: OCSF_VERSION, product: PRODUCT, uid: `${scanId}:${uid}`, log_name: 'findings', correlation_uid: scanId, profiles: ['cloud'] },
    cloud: { provider: 'AWS', ...(result.resource.region !== 'global' && { region: result.resource.region }), account },
    finding_info: { uid, title: check.title, desc: check.description, types: [check.dimension], first_seen_time: times.firstSeen, last_seen_time: times.time, modified_time: times.time },
    compliance: {
      standards: [...new Set(check.compliance.map((c) => c.framework))],
      requirements: check.compliance.map((c) => `${c.framework} ${c.control}`),
      control: check.id,
      status_id: statusId,
      status: COMPLIANCE_STATUS_NAMES[statusId],
      status_detail: result.detail,
    },
    resource: toResource(result.resource, target),
    remediation: { desc: check.remediation },
    unmapped: { dimension: check.dimension, check_id: check.id, service: check.service },
  };
}

function toResource(r: ResourceRef, target: ScanTarget): OcsfResource {
  return {
    uid: r.uid,
    type: r.type,
    name: r.name,
    ...(r.region !== 'global' && { region: r.region }),
    cloud_partition: target.partition,
    owner: { account: { uid: target.accountId, type_id: 10, type: 'AWS Account' } },
  };
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
