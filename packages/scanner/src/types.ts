/**
 * The scanner's vocabulary: checks (static metadata, kept as data in ./catalogue.ts), the
 * resources a collector saw, and one result per (check, resource).
 */

export const DIMENSIONS = ['security', 'cost', 'architecture', 'performance'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** OCSF severity captions, lowest first (severity_id 1..5). */
export const SEVERITIES = ['informational', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The services a scan can name (`--services`). */
export const SERVICES = ['ec2', 'vpc', 's3', 'rds', 'iam', 'kms', 'cloudtrail', 'kinesis', 'secretsmanager'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Compliance frameworks a check maps to. */
export const FRAMEWORKS = ['CIS AWS Foundations Benchmark v3.0.0', 'HIPAA Security Rule', 'GDPR'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

export interface ComplianceMapping {
  framework: Framework;
  /** The control or article, e.g. `5.2`, `164.312(a)(2)(iv)`, `Art. 32(1)(a)`. */
  control: string;
}

export interface CheckDefinition {
  /** `<service>.<what>`, stable: findings are keyed by it. */
  id: string;
  title: string;
  service: ServiceName;
  dimension: Dimension;
  severity: Severity;
  /** CloudFormation-style type of the resource the check judges, e.g. `AWS::S3::Bucket`. */
  resourceType: string;
  /** What a Fail means, in one or two sentences. */
  description: string;
  remediation: string;
  compliance: ComplianceMapping[];
}

/** Compliance outcome of one check on one resource (OCSF compliance.status_id 1, 2, 3). */
export type CheckStatus = 'PASS' | 'WARNING' | 'FAIL';

/** A resource a collector saw: the inventory, and the subject of results. */
export interface ResourceRef {
  /** ARN when the resource has one, else a stable `arn:`-like id. */
  uid: string;
  type: string;
  name: string;
  region: string;
  /** The resource's AWS tags (key → value), when the collector read them; published in the inventory. */
  tags?: Record<string, string>;
}

export interface CheckResult {
  checkId: string;
  resource: ResourceRef;
  status: CheckStatus;
  /** Why, in one line (the values that decided), never a secret. */
  detail: string;
}

/** Where a scan ran: the account (from STS) and partition. */
export interface ScanTarget {
  accountId: string;
  partition: string;
}

export type ScanErrorKind = 'access_denied' | 'unreachable' | 'unsupported' | 'error';

/** A service or region that could not be scanned: recorded, and the scan goes on. */
export interface ScanError {
  service: ServiceName | 'sts' | 'regions';
  region: string;
  kind: ScanErrorKind;
  /** The AWS error code or Node error code. */
  code: string;
  message: string;
}
