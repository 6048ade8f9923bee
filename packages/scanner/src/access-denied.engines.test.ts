/**
 * A scan with keys whose IAM policy allows only some services, on a moto of its own that enforces
 * IAM (the shared moto accepts any keys): the services the policy denies are recorded as
 * `access_denied` scan errors, the allowed ones give results, and the scan completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand, type AccessKey } from '@aws-sdk/client-iam';
import { startMoto, type MotoServer } from '@strata/testkit';
import { runScan, type ScanReport } from './runner.js';

const REGION = 'eu-west-3';
/** The setup below makes exactly this many AWS calls; moto lets them through unchecked (they stand in for the root user), then enforces IAM. */
const SETUP_CALLS = 3;
const POLICY = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['sts:GetCallerIdentity', 'ec2:Describe*'], Resource: '*' }] };

let moto: MotoServer;
let report: ScanReport;
let key: AccessKey;

beforeAll(async () => {
  moto = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: String(SETUP_CALLS) } });
  const iam = new IAMClient({ region: REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'root', secretAccessKey: 'root' } });
  await iam.send(new CreateUserCommand({ UserName: 'ec2-reader' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'ec2-reader', PolicyName: 'ec2-describe-only', PolicyDocument: JSON.stringify(POLICY) }));
  key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'ec2-reader' }))).AccessKey!;
  iam.destroy();
  report = await runScan({
    regions: [REGION],
    services: ['ec2', 's3', 'iam', 'kms'],
    concurrency: 2,
    connection: { endpoint: moto.endpoint, homeRegion: REGION, maxAttempts: 1, auth: { mode: 'static', accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! } },
  });
}, 60_000);
afterAll(async () => moto?.close());

describe('a scan with keys allowed EC2 Describe* only, on an IAM-enforcing moto', () => {
  it('records each denied service as an access_denied error and completes', () => {
    expect(report.target?.accountId).toMatch(/^\d{12}$/);
    expect(report.errors.map((e) => `${e.service}@${e.region} ${e.kind}`).sort()).toEqual([`iam@global access_denied`, `kms@${REGION} access_denied`, `s3@global access_denied`]);
    expect(report.errors.filter((e) => e.service !== 'kms').map((e) => e.code)).toEqual(['AccessDenied', 'AccessDenied']);
    // moto 5.2.1 refuses a JSON-protocol service (KMS) with an XML body the SDK cannot parse: the HTTP status (403) classifies it.
    expect(report.errors.find((e) => e.service === 'kms')).toMatchObject({ kind: 'access_denied', code: 'HTTP 403' });
    for (const e of report.errors) expect(e.message).not.toContain(key.AccessKeyId!);
    expect(report.completed).toEqual([`ec2@${REGION}`]);
  });

  it('gives the allowed service its results: what Describe* reads is judged, the setting it may not read is a Warning', () => {
    const sg = report.results.filter((r) => r.resource.type === 'AWS::EC2::SecurityGroup' && r.resource.name === 'default');
    expect(sg.map((r) => `${r.checkId} ${r.status}`).sort()).toEqual(['ec2.sg_admin_ports_open PASS', 'ec2.sg_all_traffic_open PASS', 'ec2.sg_default_restricts_all FAIL']);
    // GetEbsEncryptionByDefault is not a Describe* action.
    expect(report.results.find((r) => r.checkId === 'ec2.ebs_encryption_by_default')).toMatchObject({ status: 'WARNING', detail: expect.stringContaining('AccessDenied') });
    expect(report.resources.some((r) => r.type === 'AWS::S3::Bucket' || r.type === 'AWS::IAM::User')).toBe(false);
  });
});
