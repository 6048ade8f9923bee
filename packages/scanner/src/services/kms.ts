/** KMS: customer-managed keys, their rotation and whether they sit disabled. AWS-managed keys are AWS's to rotate. */
import { DescribeKeyCommand, GetKeyRotationStatusCommand, KMSClient, paginateListKeys, type KeyMetadata } from '@aws-sdk/client-kms';
import type { ResourceRef } from '../types.js';
import { mapLimit, read, Results, type Read, type ServiceScanner } from './service.js';

export interface KmsSnapshot {
  keys: { metadata: KeyMetadata; rotation: Read<boolean> | null }[];
}

export const kmsScanner: ServiceScanner<KmsSnapshot> = {
  service: 'kms',
  scope: 'regional',
  checks: ['kms.key_rotation', 'kms.key_disabled'],

  async collect({ conn, region, concurrency }) {
    const kms = conn.client('kms', region, (c) => new KMSClient(c));
    const ids: string[] = [];
    for await (const page of paginateListKeys({ client: kms, pageSize: 1000 }, {})) ids.push(...(page.Keys ?? []).map((k) => k.KeyId!).filter(Boolean));
    const described = await mapLimit(ids, concurrency, async (KeyId) => (await kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata);
    const customer = described.filter((m): m is KeyMetadata => m?.KeyManager === 'CUSTOMER' && m.KeyState !== 'PendingDeletion' && m.KeyState !== 'PendingReplicaDeletion');
    const keys = await mapLimit(customer, concurrency, async (metadata) => ({
      metadata,
      // Rotation applies to symmetric keys with AWS-made material only.
      rotation: metadata.KeySpec === 'SYMMETRIC_DEFAULT' && metadata.Origin !== 'EXTERNAL' ? await read(async () => (await kms.send(new GetKeyRotationStatusCommand({ KeyId: metadata.KeyId }))).KeyRotationEnabled === true, []) : null,
    }));
    return { keys };
  },

  evaluate(s, { region, target }) {
    const out = new Results();
    for (const { metadata: m, rotation } of s.keys) {
      const id = m.KeyId ?? '?';
      const ref: ResourceRef = { uid: m.Arn ?? `arn:${target.partition}:kms:${region}:${target.accountId}:key/${id}`, type: 'AWS::KMS::Key', name: id, region };
      if (rotation) {
        if (rotation.ok) out.check('kms.key_rotation', ref, rotation.value, rotation.value ? 'rotation on' : 'rotation off');
        else out.unreadable('kms.key_rotation', ref, 'the rotation status', rotation.missing ? 'not found' : rotation.code);
      }
      out.check('kms.key_disabled', ref, m.KeyState !== 'Disabled', `state ${m.KeyState ?? 'unknown'}`);
    }
    return out.done();
  },
};
