/**
 * bench:scan — the cloud posture scanner on moto: an account of its own seeded with about 1,000
 * resources across 3 regions (EC2 instances with their root volumes, volumes, security groups,
 * Elastic IPs, KMS keys, secrets per region; S3 buckets and IAM users account-wide), then the
 * same scan at each concurrency setting, in the same run so the figures share the machine's load.
 *
 *   node --import tsx bench/scan.ts [--per-region 100] [--repeat 3] [--concurrency 1,4,8]
 *
 * Per setting: wall seconds (median of `--repeat`), API calls, calls and milliseconds per resource.
 * moto answers from one Python process, so the figures measure the scanner's orchestration over a
 * local emulator, not AWS latency (tens of ms per call, where concurrency matters far more).
 * Needs `bash scripts/engines.sh start`. Writes bench/results/scan.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AllocateAddressCommand, CreateSecurityGroupCommand, CreateVolumeCommand, DescribeAvailabilityZonesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { runScan, type ScanReport } from '@strata/scanner';
import { clientConfig, motoAccount } from '@strata/scanner/testing';
import { sharedEngines } from '@strata/testkit';
import { arg, int } from './args.js';

const PER_REGION = int('per-region', 100, 1);
const REPEAT = int('repeat', 3, 1);
const SETTINGS = (arg('concurrency') ?? '1,4,8').split(',').map(Number);
const REGIONS = ['us-west-2', 'eu-central-1', 'ap-northeast-1'];
const here = fileURLToPath(new URL('.', import.meta.url));
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function pool(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) await op(next++);
  }));
}

const endpoint = sharedEngines().moto.endpoint;
const account = await motoAccount(endpoint);
const t0 = performance.now();
for (const region of REGIONS) {
  const cfg = clientConfig(account, region);
  const ec2 = new EC2Client(cfg);
  const kms = new KMSClient(cfg);
  const sm = new SecretsManagerClient(cfg);
  const zone = (await ec2.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones![0]!.ZoneName!;
  // Instances in batches of 50 (each gets a root volume), then the small things one call each.
  for (let left = PER_REGION; left > 0; left -= 50) {
    const n = Math.min(50, left);
    await ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', InstanceType: 't3.micro', MinCount: n, MaxCount: n }));
  }
  const small = Math.ceil(PER_REGION / 5);
  await pool(small, 8, (i) => ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 8 + (i % 4), Encrypted: i % 2 === 0 })));
  await pool(small, 8, (i) => ec2.send(new CreateSecurityGroupCommand({ GroupName: `bench-${i}`, Description: 'bench' })));
  await pool(Math.ceil(small / 2), 8, () => ec2.send(new AllocateAddressCommand({ Domain: 'vpc' })));
  await pool(small, 8, (i) => kms.send(new CreateKeyCommand({ Description: `bench-${i}` })));
  await pool(small, 8, (i) => sm.send(new CreateSecretCommand({ Name: `bench/${region}/${i}`, SecretString: 'x' })));
  for (const c of [ec2, kms, sm]) c.destroy();
}
// A bucket is created through its own region's endpoint.
const s3 = REGIONS.map((r) => new S3Client(clientConfig(account, r)));
const iam = new IAMClient(clientConfig(account, REGIONS[0]!));
await pool(Math.ceil(PER_REGION * 0.6), 8, (i) => s3[i % 3]!.send(new CreateBucketCommand({ Bucket: `bench-${account.accountId}-${i}`, CreateBucketConfiguration: { LocationConstraint: REGIONS[i % 3] as 'us-west-2' } })));
await pool(Math.ceil(PER_REGION * 0.3), 8, (i) => iam.send(new CreateUserCommand({ UserName: `bench-user-${i}` })));
for (const c of [...s3, iam]) c.destroy();
const seedSeconds = (performance.now() - t0) / 1000;

const runs: { concurrency: number; seconds: number[]; report: ScanReport }[] = [];
for (const concurrency of SETTINGS) {
  const seconds: number[] = [];
  let report: ScanReport | undefined;
  for (let i = 0; i < REPEAT; i++) {
    const start = performance.now();
    report = await runScan({ regions: REGIONS, concurrency, connection: { endpoint, homeRegion: REGIONS[0]!, auth: { mode: 'static', ...account.keys } } });
    seconds.push((performance.now() - start) / 1000);
    if (report.errors.length > 0) throw new Error(`scan errors: ${JSON.stringify(report.errors)}`);
  }
  runs.push({ concurrency, seconds, report: report! });
  const s = median(seconds);
  console.log(`concurrency ${concurrency}: ${report!.counts.resources} resources, ${report!.counts.results} results in ${round(s)} s (runs: ${seconds.map((x) => round(x)).join(', ')}); ${report!.calls.total} API calls, ${round(report!.calls.total / report!.counts.resources, 3)} per resource, ${round((s * 1000) / report!.counts.resources)} ms per resource`);
}

const base = median(runs[0]!.seconds);
const result = {
  bench: 'scan',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version },
  emulator: 'moto 5.2.1 server (shared, 127.0.0.1)',
  regions: REGIONS,
  seedSeconds: round(seedSeconds),
  runs: runs.map(({ concurrency, seconds, report }) => {
    const s = median(seconds);
    return {
      concurrency,
      resources: report.counts.resources,
      results: report.counts.results,
      seconds: round(s),
      allSeconds: seconds.map((x) => round(x)),
      apiCalls: report.calls.total,
      apiCallsPerResource: round(report.calls.total / report.counts.resources, 3),
      msPerResource: round((s * 1000) / report.counts.resources),
      speedupOverFirst: round(base / s),
      callsByOperation: report.calls.byOperation,
    };
  }),
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'scan.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`seeded in ${round(seedSeconds)} s; results in bench/results/scan.json`);
