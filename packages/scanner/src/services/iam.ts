/**
 * IAM (global): root user (account summary), password policy, and per user the credential report
 * (console password, MFA, access keys' age and use) and directly attached policies; customer-managed
 * policies granting `*` on `*`. Users and policies come from GetAccountAuthorizationDetails (a few
 * paginated calls instead of several per user).
 */
import {
  GenerateCredentialReportCommand,
  GetAccountPasswordPolicyCommand,
  GetAccountSummaryCommand,
  GetCredentialReportCommand,
  IAMClient,
  paginateGetAccountAuthorizationDetails,
  type ManagedPolicyDetail,
  type PasswordPolicy,
  type UserDetail,
} from '@aws-sdk/client-iam';
import type { ResourceRef } from '../types.js';
import { accountResource, DAY_MS, errorCode, read, Results, type Read, type ServiceScanner } from './service.js';

export interface IamSnapshot {
  summary: Record<string, number>;
  passwordPolicy: Read<PasswordPolicy>;
  users: UserDetail[];
  policies: ManagedPolicyDetail[];
  /** Credential report rows by user name (CSV columns as keys); null when the report could not be had. */
  credentials: Record<string, Record<string, string>> | null;
}

export const KEY_MAX_AGE_DAYS = 90;
export const KEY_UNUSED_DAYS = 45;
export const MIN_PASSWORD_LENGTH = 14;
export const PASSWORD_REUSE_PREVENTION = 24;

export const iamScanner: ServiceScanner<IamSnapshot> = {
  service: 'iam',
  scope: 'global',
  checks: ['iam.root_access_keys', 'iam.root_mfa', 'iam.password_policy', 'iam.user_mfa', 'iam.access_key_rotated', 'iam.access_key_used', 'iam.user_policies_via_groups', 'iam.policy_no_admin_star'],

  async collect({ conn, region }) {
    const iam = conn.client('iam', region, (c) => new IAMClient(c));
    const summary = Object.fromEntries(Object.entries((await iam.send(new GetAccountSummaryCommand({}))).SummaryMap ?? {}).map(([k, v]) => [k, Number(v)]));
    const passwordPolicy = await read(async () => (await iam.send(new GetAccountPasswordPolicyCommand({}))).PasswordPolicy ?? {}, ['NoSuchEntity', 'NoSuchEntityException']);
    const users: UserDetail[] = [];
    const policies: ManagedPolicyDetail[] = [];
    for await (const page of paginateGetAccountAuthorizationDetails({ client: iam, pageSize: 1000 }, { Filter: ['User', 'LocalManagedPolicy'] })) {
      users.push(...(page.UserDetailList ?? []));
      policies.push(...(page.Policies ?? []));
    }
    return { summary, passwordPolicy, users, policies, credentials: await credentialReport(iam) };
  },

  evaluate(s, { target, now }) {
    const out = new Results();
    const account = accountResource(target, 'global');
    const rootKeys = s.summary.AccountAccessKeysPresent ?? 0;
    out.check('iam.root_access_keys', account, rootKeys === 0, rootKeys === 0 ? 'no root access keys' : 'root access keys present');
    const rootMfa = s.summary.AccountMFAEnabled ?? 0;
    out.check('iam.root_mfa', account, rootMfa === 1, rootMfa === 1 ? 'root MFA on' : 'root MFA off');
    const pp = s.passwordPolicy;
    if (pp.ok || pp.missing) {
      const len = pp.ok ? (pp.value.MinimumPasswordLength ?? 0) : 0;
      const reuse = pp.ok ? (pp.value.PasswordReusePrevention ?? 0) : 0;
      out.check('iam.password_policy', account, len >= MIN_PASSWORD_LENGTH && reuse >= PASSWORD_REUSE_PREVENTION, pp.ok ? `minimum length ${len}, ${reuse} remembered` : 'no password policy');
    } else out.unreadable('iam.password_policy', account, 'the password policy', pp.code);

    for (const u of s.users) {
      const name = u.UserName ?? '?';
      const ref: ResourceRef = { uid: u.Arn ?? `arn:${target.partition}:iam::${target.accountId}:user/${name}`, type: 'AWS::IAM::User', name, region: 'global' };
      const direct = (u.AttachedManagedPolicies?.length ?? 0) + (u.UserPolicyList?.length ?? 0);
      out.check('iam.user_policies_via_groups', ref, direct === 0, direct === 0 ? 'no policies on the user itself' : `${u.AttachedManagedPolicies?.length ?? 0} attached and ${u.UserPolicyList?.length ?? 0} inline policies on the user`);
      const row = s.credentials?.[name];
      if (!row) {
        for (const id of ['iam.user_mfa', 'iam.access_key_rotated', 'iam.access_key_used']) out.add(id, ref, 'WARNING', 'user not in the credential report');
        continue;
      }
      const password = row.password_enabled === 'true';
      const mfa = row.mfa_active === 'true';
      out.check('iam.user_mfa', ref, !password || mfa, password ? (mfa ? 'console password with MFA' : 'console password without MFA') : 'no console password');
      const keys = [1, 2]
        .filter((n) => row[`access_key_${n}_active`] === 'true')
        .map((n) => ({ n, rotated: date(row[`access_key_${n}_last_rotated`]), used: date(row[`access_key_${n}_last_used_date`]) }));
      const old = keys.filter((k) => k.rotated !== undefined && now.getTime() - k.rotated.getTime() > KEY_MAX_AGE_DAYS * DAY_MS);
      out.check('iam.access_key_rotated', ref, old.length === 0, keys.length === 0 ? 'no active access keys' : old.length === 0 ? `${keys.length} active key(s), none older than ${KEY_MAX_AGE_DAYS} days` : `key ${old.map((k) => k.n).join(', ')} older than ${KEY_MAX_AGE_DAYS} days`);
      const unused = keys.filter((k) => {
        const since = k.used ?? k.rotated;
        return since !== undefined && now.getTime() - since.getTime() > KEY_UNUSED_DAYS * DAY_MS;
      });
      out.check('iam.access_key_used', ref, unused.length === 0, keys.length === 0 ? 'no active access keys' : unused.length === 0 ? `active key(s) used in the last ${KEY_UNUSED_DAYS} days or newer` : `key ${unused.map((k) => k.n).join(', ')} unused for over ${KEY_UNUSED_DAYS} days`);
    }

    for (const p of s.policies) {
      const name = p.PolicyName ?? p.Arn?.split('/').pop() ?? '?';
      const ref: ResourceRef = { uid: p.Arn ?? `arn:${target.partition}:iam::${target.accountId}:policy/${name}`, type: 'AWS::IAM::Policy', name, region: 'global' };
      const doc = p.PolicyVersionList?.find((v) => v.IsDefaultVersion)?.Document;
      if (doc === undefined) {
        out.add('iam.policy_no_admin_star', ref, 'WARNING', 'default version document missing');
        continue;
      }
      const admin = grantsAdminStar(doc);
      out.check('iam.policy_no_admin_star', ref, !admin, admin ? 'allows * on *' : 'no Allow of * on *');
    }
    return out.done();
  },
};

function date(value: string | undefined): Date | undefined {
  if (!value || value === 'N/A' || value === 'not_supported' || value === 'no_information') return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** The credential report as rows by user; generated if needed (a few polls), null when unavailable. */
async function credentialReport(iam: IAMClient): Promise<Record<string, Record<string, string>> | null> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const state = (await iam.send(new GenerateCredentialReportCommand({}))).State;
    if (state === 'COMPLETE') {
      try {
        const content = (await iam.send(new GetCredentialReportCommand({}))).Content;
        return content ? parseCredentialReport(Buffer.from(content).toString('utf8')) : null;
      } catch (err) {
        if (!['ReportInProgress', 'ReportNotPresent', 'ReportExpired'].includes(errorCode(err))) throw err;
      }
    }
    await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
  }
  return null;
}

/** CSV with a header row; no field of the report holds a comma. The root line is the account's. */
export function parseCredentialReport(csv: string): Record<string, Record<string, string>> {
  const [header, ...lines] = csv.trim().split(/\r?\n/);
  const cols = (header ?? '').split(',');
  const rows: Record<string, Record<string, string>> = {};
  for (const line of lines) {
    const values = line.split(',');
    const row = Object.fromEntries(cols.map((c, i) => [c, values[i] ?? '']));
    if (row.user && row.user !== '<root_account>') rows[row.user] = row;
  }
  return rows;
}

/** True when an Allow statement has Action `*` (or `*:*`) and Resource `*` (a policy document, raw or URL-encoded JSON). */
export function grantsAdminStar(document: string): boolean {
  let doc: { Statement?: unknown };
  try {
    doc = JSON.parse(document.trimStart().startsWith('{') ? document : decodeURIComponent(document)) as { Statement?: unknown };
  } catch {
    return false;
  }
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
  return list(doc.Statement).some((st) => {
    const s = st as { Effect?: string; Action?: unknown; Resource?: unknown };
    return s.Effect === 'Allow' && list(s.Action).some((a) => a === '*' || a === '*:*') && list(s.Resource).includes('*');
  });
}
