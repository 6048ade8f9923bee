/**
 * `strata scan aws --format ocsf` as a user runs it (a child process) against a moto server of
 * its own: stdout is JSON lines, the Compliance Findings (2003) first, then one Cloud Resources
 * Inventory Info event (5023) per resource the scan saw, each valid as its class; the resources a
 * fixture made are in the inventory with their tags; `--ocsf-classes` keeps one class.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateComplianceFinding, validateInventoryInfo } from '@strata/scanner';
import { clientConfig, motoAccount, type MotoAccount } from '@strata/scanner/testing';
import { startMoto, type MotoServer } from '@strata/testkit';
import { strata } from '../test-support.js';

const REGION = 'eu-west-3';
let moto: MotoServer | undefined;
let account: MotoAccount;
let bucket: string;
let volumeId: string;

beforeAll(async () => {
  moto = await startMoto();
  account = await motoAccount(moto.endpoint);
  bucket = `ocsf-${account.accountId}`;
  const s3 = new S3Client(clientConfig(account, REGION));
  const ec2 = new EC2Client(clientConfig(account, REGION));
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }));
    const volume = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 8, TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'team', Value: 'ops' }] }] }));
    volumeId = volume.VolumeId!;
  } finally {
    s3.destroy();
    ec2.destroy();
  }
});
afterAll(async () => moto?.close());

interface Event {
  class_uid: number;
  metadata: { version: string; correlation_uid: string };
  /** Inventory Info (OCSF 1.4.0): the resources listed. */
  resources: Resource[];
  /** Compliance Finding (OCSF 1.1.0): the one resource judged. */
  resource: Resource;
}
type Resource = { uid: string; type: string; tags?: { name: string; value: string }[] };

const scan = (...extra: string[]) =>
  strata(['scan', 'aws', '--regions', REGION, '--services', 's3,ec2', '--endpoint', account.endpoint, '--home-region', REGION, '--format', 'ocsf', ...extra], {
    AWS_ACCESS_KEY_ID: account.keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: account.keys.secretAccessKey,
    AWS_SESSION_TOKEN: account.keys.sessionToken,
  });

describe('strata scan aws --format ocsf against moto', () => {
  it('prints the findings, then the inventory, one valid OCSF event per line', async () => {
    const out = await scan();
    expect(out.code, out.stderr).toBe(0);
    const events = out.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Event);
    const classes = events.map((e) => e.class_uid);
    const firstInventory = classes.indexOf(5023);
    expect(classes.filter((c) => c === 2003).length).toBeGreaterThan(0);
    expect(firstInventory).toBeGreaterThan(0);
    expect(classes.slice(0, firstInventory).every((c) => c === 2003)).toBe(true);
    expect(classes.slice(firstInventory).every((c) => c === 5023)).toBe(true);
    for (const e of events) {
      expect(e.class_uid === 2003 ? validateComplianceFinding(e) : validateInventoryInfo(e), JSON.stringify(e)).toEqual([]);
      expect(e.metadata.version).toBe(e.class_uid === 2003 ? '1.1.0' : '1.4.0');
    }
    expect(new Set(events.map((e) => e.metadata.correlation_uid)).size).toBe(1); // one scan

    const inventory = events.slice(firstInventory);
    const uids = inventory.map((e) => e.resources[0]!.uid);
    expect(new Set(uids).size).toBe(uids.length); // one event per resource
    // Every resource a finding is about is in the inventory, and so is what the fixture made.
    for (const f of events.slice(0, firstInventory)) expect(uids).toContain(f.resource.uid);
    expect(uids).toContain(`arn:aws:s3:::${bucket}`);
    const volume = inventory.find((e) => e.resources[0]!.uid.endsWith(`:volume/${volumeId}`));
    expect(volume?.resources[0]).toMatchObject({ type: 'AWS::EC2::Volume', tags: [{ name: 'team', value: 'ops' }] });
    // The stderr summary counts the same resources.
    expect(out.stderr).toContain(`${inventory.length} resources`);
  });

  it('keeps one class with --ocsf-classes, and refuses it with another format (exit 2)', async () => {
    const only = await scan('--ocsf-classes', 'inventory');
    expect(only.code, only.stderr).toBe(0);
    const events = only.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Event);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.class_uid === 5023)).toBe(true);
    const bad = await strata(['scan', 'aws', '--format', 'json', '--ocsf-classes', 'inventory']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--ocsf-classes goes with --format ocsf');
  });
});
