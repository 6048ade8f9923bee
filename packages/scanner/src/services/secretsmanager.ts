/** Secrets Manager: rotation, and secrets nobody reads. Only metadata is listed: no secret value is ever read. */
import { paginateListSecrets, SecretsManagerClient, type SecretListEntry } from '@aws-sdk/client-secrets-manager';
import type { ResourceRef } from '../types.js';
import { DAY_MS, Results, tagsOf, type ServiceScanner } from './service.js';

export interface SecretsSnapshot {
  secrets: SecretListEntry[];
}

export const UNUSED_SECRET_DAYS = 90;

export const secretsManagerScanner: ServiceScanner<SecretsSnapshot> = {
  service: 'secretsmanager',
  scope: 'regional',
  checks: ['secretsmanager.rotation', 'secretsmanager.in_use'],

  async collect({ conn, region }) {
    const sm = conn.client('secretsmanager', region, (c) => new SecretsManagerClient(c));
    const secrets: SecretListEntry[] = [];
    for await (const page of paginateListSecrets({ client: sm, pageSize: 100 }, {})) secrets.push(...(page.SecretList ?? []));
    return { secrets };
  },

  evaluate(s, { region, target, now }) {
    const out = new Results();
    for (const sec of s.secrets) {
      const name = sec.Name ?? '?';
      const ref: ResourceRef = { uid: sec.ARN ?? `arn:${target.partition}:secretsmanager:${region}:${target.accountId}:secret:${name}`, type: 'AWS::SecretsManager::Secret', name, region, ...tagsOf(sec.Tags) };
      out.check('secretsmanager.rotation', ref, sec.RotationEnabled === true, sec.RotationEnabled ? `rotates every ${sec.RotationRules?.AutomaticallyAfterDays ?? '?'} days` : 'no rotation');
      const since = sec.LastAccessedDate ?? sec.CreatedDate;
      const days = since ? Math.floor((now.getTime() - since.getTime()) / DAY_MS) : 0;
      out.check('secretsmanager.in_use', ref, days < UNUSED_SECRET_DAYS, sec.LastAccessedDate ? `last read ${days} day(s) ago` : `never read, created ${days} day(s) ago`);
    }
    return out.done();
  },
};
