/**
 * Small validators for the scanner's events: Compliance Finding (below) and Cloud Resources
 * Inventory Info (`validateInventoryInfo`, at the end). The Compliance Finding one is written
 * from the OCSF 1.1.0 class definition
 * (https://schema.ocsf.io/1.1.0/classes/compliance_finding and the base_event, finding, metadata,
 * product, finding_info, compliance, remediation, resource_details and cloud objects it uses;
 * checked against the released 1.1.0 schema, docs/scanner.md#sources):
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
type OcsfType = 'string' | 'integer' | 'object' | 'array' | 'timestamp';

/** Type and enum checks shared by the validators; `issues` collects what they find. */
function ocsfChecker() {
  const issues: OcsfIssue[] = [];
  const fail = (path: string, problem: string): void => void issues.push({ path, problem });
  const typed = (o: Obj, path: string, key: string, type: OcsfType): boolean => {
    const v = o[key];
    if (v === undefined) return true;
    const ok =
      type === 'string' ? typeof v === 'string' : type === 'integer' || type === 'timestamp' ? Number.isInteger(v) && (type !== 'timestamp' || (v as number) >= 0) : type === 'array' ? Array.isArray(v) : isObj(v);
    if (!ok) fail(`${path}${key}`, `expected ${type}`);
    return ok;
  };
  const required = (o: Obj, path: string, key: string, type: OcsfType): boolean => {
    if (!(key in o) || o[key] === undefined || o[key] === null) {
      fail(`${path}${key}`, 'required attribute missing');
      return false;
    }
    return typed(o, path, key, type);
  };
  const inEnum = (o: Obj, path: string, key: string, values: Record<number, string>, caption?: string): void => {
    const v = o[key];
    if (!Number.isInteger(v)) return;
    if (!((v as number) in values)) fail(`${path}${key}`, `${String(v)} is not in the enum (${Object.keys(values).join(', ')})`);
    else if (caption !== undefined && o[caption] !== undefined && (v as number) !== 99 && o[caption] !== values[v as number]) fail(`${path}${caption}`, `expected "${values[v as number]}" for ${key} ${String(v)}`);
  };
  return { issues, fail, typed, required, inEnum };
}

type Checker = ReturnType<typeof ocsfChecker>;

interface EventClass {
  categoryUid: number;
  categoryName: string;
  classUid: number;
  className: string;
  activities: Record<number, string>;
}

/** The base event (1.1.0 and 1.4.0 alike): ids, captions, type_uid, severity, time, metadata, and the cloud profile's `cloud` when present. */
function checkBaseEvent(event: Obj, c: Checker, cls: EventClass): void {
  const { required, typed, inEnum, fail } = c;
  required(event, '', 'activity_id', 'integer') && inEnum(event, '', 'activity_id', cls.activities, 'activity_name');
  if (required(event, '', 'category_uid', 'integer') && event.category_uid !== cls.categoryUid) fail('category_uid', `must be ${cls.categoryUid} (${cls.categoryName})`);
  if (required(event, '', 'class_uid', 'integer') && event.class_uid !== cls.classUid) fail('class_uid', `must be ${cls.classUid} (${cls.className})`);
  if (required(event, '', 'type_uid', 'integer') && Number.isInteger(event.activity_id) && event.type_uid !== cls.classUid * 100 + (event.activity_id as number)) fail('type_uid', 'must be class_uid * 100 + activity_id');
  required(event, '', 'severity_id', 'integer') && inEnum(event, '', 'severity_id', SEVERITY, 'severity');
  required(event, '', 'time', 'timestamp');
  for (const k of ['activity_name', 'category_name', 'class_name', 'type_name', 'severity', 'message', 'status']) typed(event, '', k, 'string');
  if (event.category_name !== undefined && event.category_name !== cls.categoryName) fail('category_name', `expected "${cls.categoryName}" for category_uid ${cls.categoryUid}`);
  if (event.class_name !== undefined && event.class_name !== cls.className) fail('class_name', `expected "${cls.className}" for class_uid ${cls.classUid}`);
  if (required(event, '', 'metadata', 'object')) {
    const m = event.metadata as Obj;
    required(m, 'metadata.', 'version', 'string');
    if (required(m, 'metadata.', 'product', 'object')) {
      const p = m.product as Obj;
      required(p, 'metadata.product.', 'vendor_name', 'string');
      typed(p, 'metadata.product.', 'name', 'string');
    }
  }
  if (typed(event, '', 'cloud', 'object') && isObj(event.cloud)) {
    required(event.cloud, 'cloud.', 'provider', 'string');
    if (isObj(event.cloud.account)) inEnum(event.cloud.account, 'cloud.account.', 'type_id', ACCOUNT_TYPE, 'type');
  }
}

/** One resource_details: strings typed, the owner account's type in its enum, `tags` as key_value_object, `data` an object; `requireId` adds 1.4.0's "name or uid" constraint. */
function checkResource(r: unknown, path: string, c: Checker, requireId: boolean): void {
  if (!isObj(r)) {
    c.fail(path, 'expected object');
    return;
  }
  const p = `${path}.`;
  for (const k of ['uid', 'type', 'name', 'region', 'cloud_partition']) c.typed(r, p, k, 'string');
  if (requireId && r.uid === undefined && r.name === undefined) c.fail(`${p}uid`, 'one of uid, name is required');
  if (isObj(r.owner) && isObj(r.owner.account)) c.inEnum(r.owner.account, `${p}owner.account.`, 'type_id', ACCOUNT_TYPE, 'type');
  if (c.typed(r, p, 'tags', 'array') && Array.isArray(r.tags)) {
    r.tags.forEach((t, j) => {
      if (!isObj(t)) c.fail(`${p}tags[${j}]`, 'expected object');
      else c.required(t, `${p}tags[${j}].`, 'name', 'string') && c.typed(t, `${p}tags[${j}].`, 'value', 'string');
    });
  }
  c.typed(r, p, 'data', 'object');
}

/** `resources[]` (an array of resource_details), as Cloud Resources Inventory Info 1.4.0 has it. */
function checkResources(event: Obj, c: Checker, requireId: boolean): void {
  if (!(c.typed(event, '', 'resources', 'array') && Array.isArray(event.resources))) return;
  event.resources.forEach((r, i) => checkResource(r, `resources[${i}]`, c, requireId));
}

export function validateComplianceFinding(event: unknown): OcsfIssue[] {
  if (!isObj(event)) return [{ path: '', problem: 'not an object' }];
  const c = ocsfChecker();
  const { required, typed, inEnum, fail, issues } = c;
  checkBaseEvent(event, c, { categoryUid: 2, categoryName: 'Findings', classUid: 2003, className: 'Compliance Finding', activities: ACTIVITY });
  typed(event, '', 'status_id', 'integer') && inEnum(event, '', 'status_id', FINDING_STATUS, 'status');

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
  // 1.1.0's Compliance Finding has `resource` (one resource_details, recommended); `resources`
  // replaced it only in 1.3.0, so a 1.1.0 event carrying `resources` is not of this class.
  if (event.resource !== undefined) checkResource(event.resource, 'resource', c, false);
  if (event.resources !== undefined) fail('resources', 'not an attribute of Compliance Finding in OCSF 1.1.0 (use resource)');
  return issues;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const DISCOVERY_ACTIVITY = { 0: 'Unknown', 1: 'Log', 2: 'Collect', 99: 'Other' } as const;
const INVENTORY_PRIMARY = ['cloud', 'container', 'database', 'databucket', 'idp', 'resources', 'table'] as const;

/**
 * Cloud Resources Inventory Info (class_uid 5023, category Discovery), written from the OCSF
 * 1.4.0 class definition (https://schema.ocsf.io/1.4.0/classes/cloud_resources_inventory_info):
 * the base event as above with the Discovery activities (Log, Collect), the class's "at least one
 * of" constraint, `cloud.provider` (required by the cloud profile), and each resource_details
 * (uid or name, strings, `tags` as key_value_object, `data` an object).
 */
export function validateInventoryInfo(event: unknown): OcsfIssue[] {
  if (!isObj(event)) return [{ path: '', problem: 'not an object' }];
  const c = ocsfChecker();
  checkBaseEvent(event, c, { categoryUid: 5, categoryName: 'Discovery', classUid: 5023, className: 'Cloud Resources Inventory Info', activities: DISCOVERY_ACTIVITY });
  if (!INVENTORY_PRIMARY.some((k) => event[k] !== undefined && event[k] !== null)) c.fail('resources', `at least one of ${INVENTORY_PRIMARY.join(', ')} is required`);
  c.required(event, '', 'cloud', 'object');
  c.typed(event, '', 'region', 'string');
  checkResources(event, c, true);
  return c.issues;
}
