/**
 * The scan API end to end on moto: POST /v1/scans answers QUEUED at once, the scan runs, its
 * findings are queryable, are OCSF events on the `findings` topic and land in the lake's raw zone,
 * its resource inventory is OCSF events on the `inventory` topic and lands there too; a second scan
 * updates the findings it sees again and closes those of a deleted resource.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { readRawZone, sharedEngines, waitUntil } from '@strata/testkit';
import { validateComplianceFinding, validateInventoryInfo, type CloudResourcesInventoryInfo, type ComplianceFinding, type FindingView } from '@strata/scanner';
import { clientConfig, seedPosture, type PostureFixture } from '@strata/scanner/testing';
import { startTestPlatform, type TestPlatform } from './test-platform.js';

let t: TestPlatform;
let fixture: PostureFixture;
let endpoint: string;
const headers = () => ({ authorization: `Bearer ${t.adminKey}` });

beforeAll(async () => {
  endpoint = sharedEngines().moto.endpoint;
  fixture = await seedPosture(endpoint);
  t = await startTestPlatform({ 'delivery.flushIntervalMs': 200 });
});
afterAll(async () => t?.close());

async function scan(): Promise<Record<string, any>> {
  const res = await t.platform.app.inject({
    method: 'POST',
    url: '/v1/scans',
    headers: headers(),
    payload: { provider: 'aws', regions: [fixture.regions.main, fixture.regions.quiet], homeRegion: fixture.regions.main, credentials: fixture.account.keys, endpoint },
  });
  expect(res.statusCode, res.body).toBe(202);
  const { scan_id } = res.json<{ scan_id: string }>();
  let view: Record<string, any> = {};
  await waitUntil('the scan to finish', async () => {
    view = (await t.platform.app.inject({ url: `/v1/scans/${scan_id}`, headers: headers() })).json();
    return view.status !== 'QUEUED' && view.status !== 'RUNNING';
  }, 90_000, 200);
  return view;
}

async function findings(query: string): Promise<FindingView[]> {
  const res = await t.platform.app.inject({ url: `/v1/findings?limit=1000&${query}`, headers: headers() });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ findings: FindingView[] }>().findings;
}

async function topicEvents<T = ComplianceFinding>(topic = 'findings'): Promise<T[]> {
  const info = await t.platform.stream.describe(topic);
  const out: T[] = [];
  for (const p of info.partitions) for (const r of await t.platform.stream.read(topic, p.partition, 0, { maxRecords: 100_000 })) out.push(JSON.parse(Buffer.from(r.value).toString('utf8')) as T);
  return out;
}

/** What the fixture made, one line per `type name region` (account-wide ones without a region; the default security groups of a region's VPCs share one line). */
function expectedInventory(): string[] {
  return [...new Set(fixture.expected.map((e) => `${e.type} ${e.name} ${e.region === 'global' ? '-' : e.region}`))].sort();
}

function inventoryLines(events: CloudResourcesInventoryInfo[]): string[] {
  return [...new Set(events.map((e) => `${e.resources[0].type} ${e.resources[0].name} ${e.resources[0].region ?? '-'}`))].sort();
}

describe('scans through the API, on moto', () => {
  it('runs a queued scan to SUCCEEDED, with counts per severity and the findings the checks gave', async () => {
    const view = await scan();
    expect(view).toMatchObject({ status: 'SUCCEEDED', account_id: fixture.account.accountId, errors: [], progress: { done: 15, total: 15 } });
    expect(view.counts.results).toBe(fixture.expected.length);
    expect(view.counts.fail).toBe(fixture.expected.filter((e) => e.status === 'FAIL').length);
    expect(view.counts.findings).toEqual({ created: fixture.expected.length, updated: 0, closed: 0 });
    expect(view.api_calls).toBeGreaterThan(30);

    const all = await findings(`account=${fixture.account.accountId}`);
    expect(all.map((f) => `${f.check} ${f.resource.name} ${f.status}`).sort()).toEqual(fixture.expected.map((e) => `${e.check} ${e.name} ${e.status}`).sort());
    const critical = await findings(`account=${fixture.account.accountId}&severity=critical&status=FAIL`);
    expect(critical.map((f) => `${f.check} ${f.resource.name}`).sort()).toEqual(fixture.expected.filter((e) => e.status === 'FAIL' && ['ec2.sg_all_traffic_open', 's3.bucket_public_acl', 'rds.instance_public', 'iam.root_mfa'].includes(e.check)).map((e) => `${e.check} ${e.name}`).sort());
    expect((await findings(`account=${fixture.account.accountId}&dimension=cost&check=ec2.volume_unattached&status=FAIL`)).map((f) => f.resource.name)).toEqual(['orphan-plain']);
  });

  it('publishes every finding as a valid OCSF event on the findings topic, delivered to the lake', async () => {
    const events = await topicEvents();
    expect(events).toHaveLength(fixture.expected.length);
    for (const e of events) expect(validateComplianceFinding(e)).toEqual([]);
    expect(new Set(events.map((e) => e.activity_id))).toEqual(new Set([1]));
    await waitUntil('findings in the raw zone', async () => (await readRawZone(t.platform.store, 'findings')).length === events.length, 30_000, 200);
  });

  it('publishes the scan’s resource inventory as valid OCSF Cloud Resources Inventory Info events, delivered to the lake', async () => {
    const events = await topicEvents<CloudResourcesInventoryInfo>('inventory');
    for (const e of events) expect(validateInventoryInfo(e), e.resources[0].uid).toEqual([]);
    expect(new Set(events.map((e) => e.class_uid))).toEqual(new Set([5023]));
    expect(new Set(events.map((e) => e.metadata.correlation_uid)).size).toBe(1);
    expect(inventoryLines(events)).toEqual(expectedInventory());
    expect(new Set(events.map((e) => e.resources[0].uid)).size).toBe(events.length);
    for (const e of events) expect(e.resources[0].owner.account.uid).toBe(fixture.account.accountId);

    const volume = events.find((e) => e.resources[0].type === 'AWS::EC2::Volume' && e.resources[0].name === 'orphan-plain')!;
    expect(volume.resources[0]).toMatchObject({ region: fixture.regions.main, tags: [{ name: 'Name', value: 'orphan-plain' }], data: { service: 'ec2', observed: { 'ec2.volume_encrypted': 'not encrypted' } } });
    expect(volume.resources[0].uid).toMatch(new RegExp(`^arn:aws:ec2:${fixture.regions.main}:${fixture.account.accountId}:volume/vol-`));
    const bucket = events.find((e) => e.resources[0].name === `strata-${fixture.account.accountId}-open`)!;
    expect(bucket.resources[0]).toMatchObject({ uid: `arn:aws:s3:::strata-${fixture.account.accountId}-open`, type: 'AWS::S3::Bucket', data: { service: 's3' } });
    expect(Object.keys(bucket.resources[0].data.observed).sort()).toEqual(fixture.expected.filter((x) => x.name === bucket.resources[0].name).map((x) => x.check).sort());
    await waitUntil('inventory in the raw zone', async () => (await readRawZone(t.platform.store, 'inventory')).length === events.length, 30_000, 200);
  });

  it('on a second scan, updates what it sees again and closes the findings of a deleted bucket', async () => {
    const s3 = new S3Client(clientConfig(fixture.account, fixture.regions.main));
    const open = `strata-${fixture.account.accountId}-open`;
    const logs = `strata-${fixture.account.accountId}-logs`;
    await s3.send(new DeleteBucketCommand({ Bucket: open }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: logs, VersioningConfiguration: { Status: 'Enabled' } }));
    s3.destroy();

    const view = await scan();
    expect(view.status).toBe('SUCCEEDED');
    expect(view.counts.findings).toEqual({ created: 0, updated: fixture.expected.length - 7, closed: 7 });
    const closed = await findings(`state=closed&resource=${encodeURIComponent(`arn:aws:s3:::${open}`)}`);
    expect(closed).toHaveLength(7);
    expect(closed.every((f) => f.closedAt !== null)).toBe(true);
    expect((await findings(`check=s3.bucket_versioning&resource=${logs}`))[0]).toMatchObject({ status: 'PASS', state: 'active' });

    const second = (await topicEvents()).filter((e) => e.metadata.correlation_uid === view.scan_id);
    expect(second).toHaveLength(fixture.expected.length);
    expect(second.filter((e) => e.activity_id === 3).map((e) => e.resource!.name)).toEqual(Array(7).fill(open));
    expect(second.filter((e) => e.activity_id === 2)).toHaveLength(fixture.expected.length - 7);
    const fixed = second.find((e) => e.compliance.control === 's3.bucket_versioning' && e.resource!.name === logs)!;
    expect(fixed).toMatchObject({ activity_id: 2, status: 'Resolved', compliance: { status: 'Pass' } });

    // The second inventory is a full snapshot of what is there now: the deleted bucket is not in it.
    const inventory = (await topicEvents<CloudResourcesInventoryInfo>('inventory')).filter((e) => e.metadata.correlation_uid === view.scan_id);
    expect(inventoryLines(inventory)).toEqual(expectedInventory().filter((line) => !line.startsWith(`AWS::S3::Bucket ${open} `)));
    expect(inventory.find((e) => e.resources[0].name === logs)!.resources[0].data.observed['s3.bucket_versioning']).toBe('versioning Enabled');
  });
});
