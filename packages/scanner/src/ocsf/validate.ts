/**
 * A small validator for Compliance Finding events, written from the OCSF 1.1.0 class definition
 * (https://schema.ocsf.io/1.1.0/classes/compliance_finding and the base_event, finding, metadata,
 * product, finding_info, compliance, remediation, resource_details and cloud objects it uses):
 * required attributes present with the right type, enum attributes within their enum, the
 * captions (`*_name`, `severity`, `status`) matching their ids, and type_uid = class_uid × 100 +
 * activity_id. Not a full schema validator: recommended and optional attributes are checked only
 * for type when present.
 */

export interface OcsfIssue {
  path: string;
  problem: string;
}

const ACTIVITY = { 0: 'Unknown', 1: 'Create', 2: 'Update', 3: 'Close', 99: 'Other' } as const;
const SEVERITY = { 0: 'Unknown', 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical', 6: 'Fatal', 99: 'Other' } as const;
const FINDING_STATUS = { 0: 'Unknown', 1: 'New', 2: 'In Progress', 3: 'Suppressed', 4: 'Resolved', 99: 'Other' } as const;
const COMPLIANCE_STATUS = { 0: 'Unknown', 1: 'Pass', 2: 'Warning', 3: 'Fail', 99: 'Other' } as const;
const ACCOUNT_TYPE = { 0: 'Unknown', 1: 'LDAP Account', 2: 'Windows Account', 3: 'AWS IAM User', 4: 'AWS IAM Role', 5: 'GCP Account', 6: 'Azure AD Account', 7: 'Mac OS Account', 8: 'Apple Account', 9: 'Linux Account', 10: 'AWS Account', 99: 'Other' } as const;

type Obj = Record<string, unknown>;

export function validateComplianceFinding(event: unknown): OcsfIssue[] {
  const issues: OcsfIssue[] = [];
  const fail = (path: string, problem: string) => issues.push({ path, problem });
  if (!isObj(event)) return [{ path: '', problem: 'not an object' }];

  const required = (o: Obj, path: string, key: string, type: 'string' | 'integer' | 'object' | 'array' | 'timestamp'): boolean => {
    if (!(key in o) || o[key] === undefined || o[key] === null) {
      fail(`${path}${key}`, 'required attribute missing');
      return false;
    }
    return typed(o, path, key, type);
  };
  const typed = (o: Obj, path: string, key: string, type: 'string' | 'integer' | 'object' | 'array' | 'timestamp'): boolean => {
    const v = o[key];
    if (v === undefined) return true;
    const ok =
      type === 'string' ? typeof v === 'string' : type === 'integer' || type === 'timestamp' ? Number.isInteger(v) && (type !== 'timestamp' || (v as number) >= 0) : type === 'array' ? Array.isArray(v) : isObj(v);
    if (!ok) fail(`${path}${key}`, `expected ${type}`);
    return ok;
  };
  const inEnum = (o: Obj, path: string, key: string, values: Record<number, string>, caption?: string): void => {
    const v = o[key];
    if (!Number.isInteger(v)) return;
    if (!((v as number) in values)) fail(`${path}${key}`, `${String(v)} is not in the enum (${Object.keys(values).join(', ')})`);
    else if (caption !== undefined && o[caption] !== undefined && (v as number) !== 99 && o[caption] !== values[v as number]) fail(`${path}${caption}`, `expected "${values[v as number]}" for ${key} ${String(v)}`);
  };

  // Base event
  required(event, '', 'activity_id', 'integer') && inEnum(event, '', 'activity_id', ACTIVITY, 'activity_name');
  if (required(event, '', 'category_uid', 'integer') && event.category_uid !== 2) fail('category_uid', 'must be 2 (Findings)');
  if (required(event, '', 'class_uid', 'integer') && event.class_uid !== 2003) fail('class_uid', 'must be 2003 (Compliance Finding)');
  if (required(event, '', 'type_uid', 'integer') && Number.isInteger(event.activity_id) && event.type_uid !== 2003 * 100 + (event.activity_id as number)) fail('type_uid', 'must be class_uid * 100 + activity_id');
  required(event, '', 'severity_id', 'integer') && inEnum(event, '', 'severity_id', SEVERITY, 'severity');
  required(event, '', 'time', 'timestamp');
  for (const k of ['activity_name', 'category_name', 'class_name', 'type_name', 'severity', 'message', 'status']) typed(event, '', k, 'string');
  if (event.category_name !== undefined && event.category_name !== 'Findings') fail('category_name', 'expected "Findings" for category_uid 2');
  if (event.class_name !== undefined && event.class_name !== 'Compliance Finding') fail('class_name', 'expected "Compliance Finding" for class_uid 2003');
  typed(event, '', 'status_id', 'integer') && inEnum(event, '', 'status_id', FINDING_STATUS, 'status');

  if (required(event, '', 'metadata', 'object')) {
    const m = event.metadata as Obj;
    required(m, 'metadata.', 'version', 'string');
    if (required(m, 'metadata.', 'product', 'object')) {
      const p = m.product as Obj;
      required(p, 'metadata.product.', 'vendor_name', 'string');
      typed(p, 'metadata.product.', 'name', 'string');
    }
  }

  // Finding
  if (required(event, '', 'finding_info', 'object')) {
    const f = event.finding_info as Obj;
    required(f, 'finding_info.', 'uid', 'string');
    required(f, 'finding_info.', 'title', 'string');
    for (const k of ['first_seen_time', 'last_seen_time', 'modified_time', 'created_time']) typed(f, 'finding_info.', k, 'timestamp');
    typed(f, 'finding_info.', 'types', 'array');
  }

  // Compliance Finding
  if (required(event, '', 'compliance', 'object')) {
    const c = event.compliance as Obj;
    if (required(c, 'compliance.', 'standards', 'array') && !(c.standards as unknown[]).every((s) => typeof s === 'string')) fail('compliance.standards', 'expected strings');
    typed(c, 'compliance.', 'requirements', 'array');
    typed(c, 'compliance.', 'control', 'string');
    typed(c, 'compliance.', 'status_id', 'integer') && inEnum(c, 'compliance.', 'status_id', COMPLIANCE_STATUS, 'status');
  }
  if (typed(event, '', 'remediation', 'object') && isObj(event.remediation)) required(event.remediation, 'remediation.', 'desc', 'string');
  if (typed(event, '', 'resources', 'array') && Array.isArray(event.resources)) {
    event.resources.forEach((r, i) => {
      const path = `resources[${i}].`;
      if (!isObj(r)) {
        fail(path, 'expected object');
        return;
      }
      for (const k of ['uid', 'type', 'name', 'region', 'cloud_partition']) typed(r, path, k, 'string');
      if (isObj(r.owner) && isObj(r.owner.account)) inEnum(r.owner.account, `${path}owner.account.`, 'type_id', ACCOUNT_TYPE, 'type');
    });
  }
  if (typed(event, '', 'cloud', 'object') && isObj(event.cloud)) {
    required(event.cloud, 'cloud.', 'provider', 'string');
    if (isObj(event.cloud.account)) inEnum(event.cloud.account, 'cloud.account.', 'type_id', ACCOUNT_TYPE, 'type');
  }
  return issues;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
