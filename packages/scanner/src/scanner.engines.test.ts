/**
 * The scanner against moto (the shared server): an account of its own per fixture, seeded with
 * insecure, wasteful and compliant resources; every check must give exactly the expected outcome
 * on every resource, AssumeRole goes through moto's STS, and a region that errors is reported
 * while the rest of the scan completes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedEngines } from '@strata/testkit';
import { CATALOGUE } from './catalogue.js';
import { ocsfFindings, renderJson, renderMarkdown, renderOcsf } from './report/render.js';
import { runScan, type ScanReport } from './runner.js';
import { validateComplianceFinding } from './ocsf/validate.js';
import { motoAccount, seedCompliantAccount, seedPosture, uniqueAccountId, type Expected, type PostureFixture } from './testing/moto.js';
import type { CheckResult } from './types.js';

const key = (check: string, type: string, region: string, name: string, status: string) => `${check} | ${type} | ${region} | ${name} → ${status}`;
const actualKeys = (results: readonly CheckResult[]) => results.map((r) => key(r.checkId, r.resource.type, r.resource.region, r.resource.name, r.status)).sort();
const expectedKeys = (expected: readonly Expected[]) => expected.map((e) => key(e.check, e.type, e.region, e.name, e.status)).sort();

let endpoint: string;
let fixture: PostureFixture;
let report: ScanReport;

beforeAll(async () => {
  endpoint = sharedEngines().moto.endpoint;
  fixture = await seedPosture(endpoint);
  report = await runScan({
    regions: [fixture.regions.main, fixture.regions.quiet],
    concurrency: 4,
    connection: { endpoint, homeRegion: fixture.regions.main, auth: { mode: 'static', ...fixture.account.keys } },
  });
});

describe('a scan of a seeded account (static keys)', () => {
  it('completes every service in every region without errors', () => {
    expect(report.errors).toEqual([]);
    expect(report.target).toEqual({ accountId: fixture.account.accountId, partition: 'aws' });
    const regional = ['ec2', 'vpc', 'rds', 'kms', 'kinesis', 'secretsmanager'].flatMap((s) => [`${s}@${fixture.regions.main}`, `${s}@${fixture.regions.quiet}`]);
    // S3 covers the buckets of the scanned regions, CloudTrail the home region's own trails (scopes: services/service.ts).
    const covered = [`s3@${fixture.regions.main}`, `s3@${fixture.regions.quiet}`, `cloudtrail@${fixture.regions.main}`];
    expect(report.completed).toEqual([...regional, ...covered, 's3@global', 'iam@global', 'cloudtrail@global'].sort());
  });

  it('gives exactly the expected Pass/Fail for every check on every resource', () => {
    expect(actualKeys(report.results)).toEqual(expectedKeys(fixture.expected));
  });

  it('exercises every check of the catalogue', () => {
    expect([...new Set(report.results.map((r) => r.checkId))].sort()).toEqual(CATALOGUE.map((c) => c.id).sort());
  });

  it('emits OCSF Compliance Findings that validate against the class definition', () => {
    const findings = ocsfFindings(report);
    expect(findings).toHaveLength(report.results.length);
    for (const f of findings) expect(validateComplianceFinding(f), f.finding_info.title).toEqual([]);
    const lines = renderOcsf(report, ['findings']).trim().split('\n');
    expect(lines).toHaveLength(findings.length);
    expect(renderOcsf(report).trim().split('\n')).toHaveLength(findings.length + new Set(report.resources.map((r) => r.uid)).size);
    expect(new Set(findings.map((f) => f.finding_info.uid)).size).toBe(findings.length);
  });

  it('keeps the session credentials out of every report format', () => {
    for (const text of [renderJson(report), renderOcsf(report), renderMarkdown(report)]) {
      for (const secret of [fixture.account.keys.secretAccessKey, fixture.account.keys.sessionToken, fixture.account.keys.accessKeyId]) expect(text).not.toContain(secret);
    }
    expect(report.auth).toEqual({ mode: 'static' });
  });

  it('counts API calls', () => {
    expect(report.calls.total).toBeGreaterThan(30);
    expect(report.calls.byOperation['ec2:DescribeInstancesCommand']).toBe(2);
  });
});

let compliant: ScanReport | undefined;

describe('AssumeRole through moto STS', () => {
  it('scans the role’s account; the external id and source keys appear in no report', async () => {
    const accountId = uniqueAccountId();
    const home = 'ap-southeast-2';
    const expected = await seedCompliantAccount(endpoint, accountId, home);
    const source = (await motoAccount(endpoint)).keys;
    const externalId = `ext-${accountId}-secret`;
    const r = await runScan({
      regions: [home],
      services: ['s3', 'iam', 'cloudtrail'],
      connection: { endpoint, homeRegion: home, auth: { mode: 'assume-role', roleArn: `arn:aws:iam::${accountId}:role/strata-scanner`, externalId, source } },
    });
    compliant = r;
    expect(r.errors).toEqual([]);
    expect(r.target?.accountId).toBe(accountId);
    expect(r.auth).toEqual({ mode: 'assume-role', roleArn: `arn:aws:iam::${accountId}:role/strata-scanner` });
    expect(r.calls.byOperation['sts:AssumeRoleCommand']).toBe(1);
    const subjects = new Set(expected.map((e) => `${e.type} ${e.name}`));
    const judged = r.results.filter((x) => subjects.has(`${x.resource.type} ${x.resource.name}`) && expected.some((e) => e.check === x.checkId));
    expect(actualKeys(judged)).toEqual(expectedKeys(expected));
    for (const text of [renderJson(r), renderOcsf(r), renderMarkdown(r)]) {
      expect(text).not.toContain(externalId);
      expect(text).not.toContain(source.secretAccessKey);
    }
  });
});

describe('the seeded accounts together', () => {
  /**
   * Checks moto cannot take both ways, with the recorded-input test (services/checks.test.ts) that
   * gives the other outcome. The README lists them.
   */
  const MOTO_ONE_WAY: Record<string, string> = {
    'iam.root_access_keys': 'moto has no root keys (Fail: checks.test.ts IAM)',
    'iam.root_mfa': 'moto reports root MFA off (Pass: checks.test.ts IAM)',
    'iam.access_key_rotated': 'moto keys are new (Fail: checks.test.ts IAM)',
    'iam.access_key_used': 'moto keys are new (Fail: checks.test.ts IAM)',
    'secretsmanager.in_use': 'moto secrets are new (Fail: checks.test.ts Secrets Manager)',
    'rds.instance_performance_insights': 'moto 5.2.1 does not keep it on (Pass: checks.test.ts RDS)',
  };

  it('give every other check both a Pass and a Fail on moto (the account-wide ones across the two accounts)', () => {
    expect(compliant, 'the AssumeRole scan ran').toBeDefined();
    const seen = new Map<string, Set<string>>();
    for (const r of [...report.results, ...compliant!.results]) seen.set(r.checkId, (seen.get(r.checkId) ?? new Set()).add(r.status));
    for (const c of CATALOGUE) {
      const statuses = [...(seen.get(c.id) ?? [])].filter((s) => s !== 'WARNING').sort();
      if (c.id in MOTO_ONE_WAY) expect(statuses, `${c.id}: ${MOTO_ONE_WAY[c.id]}`).toHaveLength(1);
      else expect(statuses, c.id).toEqual(['FAIL', 'PASS']);
    }
  });
});

describe('a region that errors', () => {
  it('is recorded as a scan error per service, and the rest of the scan completes', async () => {
    const r = await runScan({
      regions: [fixture.regions.main, 'mars-north-1'],
      services: ['ec2', 'kms'],
      concurrency: 2,
      connection: { endpoint, homeRegion: fixture.regions.main, auth: { mode: 'static', ...fixture.account.keys }, maxAttempts: 1 },
    });
    expect(r.completed).toEqual([`ec2@${fixture.regions.main}`, `kms@${fixture.regions.main}`]);
    expect(r.errors.map((e) => `${e.service}@${e.region}`).sort()).toEqual(['ec2@mars-north-1', 'kms@mars-north-1']);
    for (const e of r.errors) {
      expect(e.kind).toBe('error');
      expect(e.code).toBe('HTTP 500');
    }
    const wanted = fixture.expected.filter((e) => e.check.startsWith('ec2.') || e.check.startsWith('kms.')).filter((e) => e.region === fixture.regions.main);
    expect(actualKeys(r.results)).toEqual(expectedKeys(wanted));
  });

  it('stopped before it starts, makes no call and says so', async () => {
    const stop = new AbortController();
    stop.abort();
    const r = await runScan({ regions: [fixture.regions.main], services: ['ec2', 'iam'], signal: stop.signal, connection: { endpoint, auth: { mode: 'static', ...fixture.account.keys } } });
    expect(r.completed).toEqual([]);
    expect(r.target).toBeNull();
    expect(r.calls.total).toBe(0);
    expect(r.errors.map((e) => `${e.service}@${e.region} ${e.code}`)).toEqual(['sts@us-east-1 Aborted']);
  });

  it('stopped while tasks run, ends them at their next call and returns its report', async () => {
    const stop = new AbortController();
    const r = await runScan({
      regions: [fixture.regions.main, fixture.regions.quiet],
      services: ['ec2', 'vpc', 's3', 'kms'],
      concurrency: 3,
      signal: stop.signal,
      onProgress: () => stop.abort(),
      connection: { endpoint, homeRegion: fixture.regions.main, auth: { mode: 'static', ...fixture.account.keys } },
    });
    expect(r.errors.length).toBeGreaterThan(0);
    for (const e of r.errors) expect(e.code, JSON.stringify(e)).toBe('Aborted');
    // No setting read after the stop became a Warning: a task either completed or is an error.
    expect(r.results.filter((x) => x.status === 'WARNING')).toEqual([]);
    expect(new Set([...r.completed.filter((c) => !c.startsWith('s3@') || c === 's3@global'), ...r.errors.map((e) => `${e.service}@${e.region}`)]).size).toBe(7);
  });

  it('past its time limit, stops the same way', async () => {
    const r = await runScan({ regions: [fixture.regions.main], services: ['ec2', 'iam'], timeoutMs: 1, connection: { endpoint, auth: { mode: 'static', ...fixture.account.keys } } });
    expect(r.completed).toEqual([]);
    expect(r.errors.map((e) => e.code)).toContain('Aborted');
  });

  it('with credentials refused by STS, the scan reports it and does nothing else', async () => {
    const r = await runScan({ regions: ['eu-west-3'], connection: { endpoint: 'http://127.0.0.1:9', auth: { mode: 'static', accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'wrong' }, maxAttempts: 1 } });
    expect(r.target).toBeNull();
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ service: 'sts', kind: 'unreachable', code: 'ECONNREFUSED' });
    expect(JSON.stringify(r)).not.toContain('AKIAEXAMPLEEXAMPLE00');
  });
});
