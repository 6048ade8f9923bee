/** S3: the account's Block Public Access, and per bucket in the scanned regions: public access, ACL, encryption, TLS-only policy, versioning, logging, lifecycle. */
import {
  GetBucketAclCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketLocationCommand,
  GetBucketLoggingCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  ListBucketsCommand,
  S3Client,
  type Grant,
  type PublicAccessBlockConfiguration,
} from '@aws-sdk/client-s3';
import { GetPublicAccessBlockCommand as GetAccountPublicAccessBlockCommand, S3ControlClient } from '@aws-sdk/client-s3-control';
import type { ResourceRef } from '../types.js';
import { accountResource, mapLimit, read, Results, type Read, type ServiceScanner } from './service.js';

export interface BucketSnapshot {
  name: string;
  region: string;
  publicAccessBlock: Read<PublicAccessBlockConfiguration>;
  grants: Read<Grant[]>;
  encryption: Read<boolean>;
  policy: Read<string>;
  versioning: Read<string>;
  logging: Read<boolean>;
  lifecycleRules: Read<number>;
}

export interface S3Snapshot {
  accountPublicAccessBlock: Read<PublicAccessBlockConfiguration>;
  buckets: BucketSnapshot[];
}

const PUBLIC_GROUPS = new Set(['http://acs.amazonaws.com/groups/global/AllUsers', 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers']);
const NO_PAB = ['NoSuchPublicAccessBlockConfiguration'];

export const s3Scanner: ServiceScanner<S3Snapshot> = {
  service: 's3',
  scope: 'global',
  // Buckets are listed account-wide but judged (and scoped) in their own region: only the scanned regions' are reported.
  covers: (_home, regions) => regions,
  checks: ['s3.account_public_access_block', 's3.bucket_public_access_block', 's3.bucket_public_acl', 's3.bucket_encryption', 's3.bucket_secure_transport', 's3.bucket_versioning', 's3.bucket_logging', 's3.bucket_lifecycle'],

  async collect({ conn, region: home, regions, target, concurrency }) {
    const s3 = conn.client('s3', home, (c) => new S3Client({ ...c, followRegionRedirects: true }));
    // S3 Control puts the account id in the host name; an emulator's endpoint is taken as it is.
    const control = conn.client('s3control', home, ({ endpoint, ...c }) => new S3ControlClient({ ...c, ...(endpoint !== undefined && { endpointProvider: () => ({ url: new URL(endpoint) }) }) }));
    const accountPublicAccessBlock = await read(async () => (await control.send(new GetAccountPublicAccessBlockCommand({ AccountId: target.accountId }))).PublicAccessBlockConfiguration ?? {}, NO_PAB);
    const names: string[] = [];
    let token: string | undefined;
    do {
      const out = await s3.send(new ListBucketsCommand({ ContinuationToken: token, MaxBuckets: 1000 }));
      names.push(...(out.Buckets ?? []).map((b) => b.Name!).filter(Boolean));
      token = out.ContinuationToken;
    } while (token);
    const wanted = new Set(regions);
    const located = await mapLimit(names, concurrency, async (name) => {
      const loc = await read(async () => (await s3.send(new GetBucketLocationCommand({ Bucket: name }))).LocationConstraint, []);
      // An empty LocationConstraint is us-east-1 (and EU the old name of eu-west-1).
      return { name, region: loc.ok ? (loc.value ? (loc.value === 'EU' ? 'eu-west-1' : loc.value) : 'us-east-1') : home };
    });
    const buckets = await mapLimit(located.filter((b) => wanted.has(b.region)), concurrency, async ({ name, region }): Promise<BucketSnapshot> => {
      const c = conn.client('s3', region, (cfg) => new S3Client({ ...cfg, followRegionRedirects: true }));
      const Bucket = name;
      return {
        name,
        region,
        publicAccessBlock: await read(async () => (await c.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration ?? {}, NO_PAB),
        grants: await read(async () => (await c.send(new GetBucketAclCommand({ Bucket }))).Grants ?? [], []),
        encryption: await read(async () => ((await c.send(new GetBucketEncryptionCommand({ Bucket }))).ServerSideEncryptionConfiguration?.Rules?.length ?? 0) > 0, ['ServerSideEncryptionConfigurationNotFoundError']),
        policy: await read(async () => (await c.send(new GetBucketPolicyCommand({ Bucket }))).Policy ?? '', ['NoSuchBucketPolicy']),
        versioning: await read(async () => (await c.send(new GetBucketVersioningCommand({ Bucket }))).Status ?? 'Never enabled', []),
        logging: await read(async () => Boolean((await c.send(new GetBucketLoggingCommand({ Bucket }))).LoggingEnabled?.TargetBucket), []),
        lifecycleRules: await read(async () => ((await c.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))).Rules ?? []).filter((r) => r.Status === 'Enabled').length, ['NoSuchLifecycleConfiguration']),
      };
    });
    return { accountPublicAccessBlock, buckets };
  },

  evaluate(s, { target }) {
    const out = new Results();
    const account = accountResource(target, 'global');
    const acct = s.accountPublicAccessBlock;
    if (acct.ok || acct.missing) {
      const on = acct.ok && allOn(acct.value);
      out.check('s3.account_public_access_block', account, on, on ? 'all four settings on' : acct.ok ? `off: ${offSettings(acct.value).join(', ')}` : 'not configured');
    } else out.unreadable('s3.account_public_access_block', account, 'the account Block Public Access', acct.code);

    for (const b of s.buckets) {
      const ref: ResourceRef = { uid: `arn:${target.partition}:s3:::${b.name}`, type: 'AWS::S3::Bucket', name: b.name, region: b.region };
      const pab = b.publicAccessBlock;
      if (pab.ok || pab.missing) {
        const on = pab.ok && allOn(pab.value);
        out.check('s3.bucket_public_access_block', ref, on, on ? 'all four settings on' : pab.ok ? `off: ${offSettings(pab.value).join(', ')}` : 'not configured');
      } else out.unreadable('s3.bucket_public_access_block', ref, 'Block Public Access', pab.code);

      if (b.grants.ok) {
        const open = b.grants.value.filter((g) => PUBLIC_GROUPS.has(g.Grantee?.URI ?? ''));
        out.check('s3.bucket_public_acl', ref, open.length === 0, open.length === 0 ? 'no public grants' : `granted ${open.map((g) => `${g.Permission} to ${g.Grantee!.URI!.split('/').pop()}`).join(', ')}`);
      } else out.unreadable('s3.bucket_public_acl', ref, 'the ACL', b.grants.missing ? 'not found' : b.grants.code);

      const enc = b.encryption;
      if (enc.ok || enc.missing) out.check('s3.bucket_encryption', ref, enc.ok && enc.value, enc.ok && enc.value ? 'default encryption set' : 'no default encryption');
      else out.unreadable('s3.bucket_encryption', ref, 'the encryption configuration', enc.code);

      const pol = b.policy;
      if (pol.ok || pol.missing) {
        const tls = pol.ok && deniesInsecureTransport(pol.value);
        out.check('s3.bucket_secure_transport', ref, tls, tls ? 'policy denies aws:SecureTransport false' : pol.ok ? 'policy does not deny plain HTTP' : 'no bucket policy');
      } else out.unreadable('s3.bucket_secure_transport', ref, 'the bucket policy', pol.code);

      if (b.versioning.ok) out.check('s3.bucket_versioning', ref, b.versioning.value === 'Enabled', `versioning ${b.versioning.value}`);
      else out.unreadable('s3.bucket_versioning', ref, 'versioning', b.versioning.missing ? 'not found' : b.versioning.code);

      if (b.logging.ok) out.check('s3.bucket_logging', ref, b.logging.value, b.logging.value ? 'access logging on' : 'access logging off');
      else out.unreadable('s3.bucket_logging', ref, 'logging', b.logging.missing ? 'not found' : b.logging.code);

      const lc = b.lifecycleRules;
      if (lc.ok || lc.missing) {
        const n = lc.ok ? lc.value : 0;
        out.check('s3.bucket_lifecycle', ref, n > 0, `${n} enabled lifecycle rule(s)`);
      } else out.unreadable('s3.bucket_lifecycle', ref, 'the lifecycle configuration', lc.code);
    }
    return out.done();
  },
};

const PAB_SETTINGS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;

function allOn(c: PublicAccessBlockConfiguration): boolean {
  return PAB_SETTINGS.every((k) => c[k] === true);
}

function offSettings(c: PublicAccessBlockConfiguration): string[] {
  return PAB_SETTINGS.filter((k) => c[k] !== true);
}

/** True when a Deny statement for every principal and every S3 action covers requests whose aws:SecureTransport is false. */
export function deniesInsecureTransport(policy: string): boolean {
  let doc: { Statement?: unknown };
  try {
    doc = JSON.parse(policy) as { Statement?: unknown };
  } catch {
    return false;
  }
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
  return list(doc.Statement).some((raw) => {
    const st = raw as { Effect?: string; Principal?: unknown; Action?: unknown; Condition?: Record<string, Record<string, unknown>> };
    if (st.Effect !== 'Deny') return false;
    const everyone = st.Principal === '*' || list((st.Principal as { AWS?: unknown } | undefined)?.AWS).includes('*');
    const allActions = list(st.Action).some((a) => a === '*' || a === 's3:*');
    const v = st.Condition?.Bool?.['aws:SecureTransport'] ?? st.Condition?.BoolIfExists?.['aws:SecureTransport'];
    return everyone && allActions && list(v).some((x) => x === false || x === 'false');
  });
}
