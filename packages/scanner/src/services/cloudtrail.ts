/**
 * CloudTrail (collected once, from the home region): the trails that apply there (multi-region
 * trails and the home region's own), their status and event selectors. Single-region trails of
 * other regions are not judged. A multi-region trail is reported in region `global` (it covers
 * them all; its ARN names its home), a single-region trail in its region, so a scan from another
 * home region leaves that region's trail findings alone.
 */
import { CloudTrailClient, DescribeTrailsCommand, GetEventSelectorsCommand, GetTrailStatusCommand, type Trail } from '@aws-sdk/client-cloudtrail';
import type { ResourceRef } from '../types.js';
import { accountResource, mapLimit, read, Results, type Read, type ServiceScanner } from './service.js';

export interface TrailSnapshot {
  trail: Trail;
  logging: Read<boolean>;
  /** Whether the trail records management events (read and write). */
  managementEvents: Read<boolean>;
}

export interface CloudTrailSnapshot {
  trails: TrailSnapshot[];
}

export const cloudTrailScanner: ServiceScanner<CloudTrailSnapshot> = {
  service: 'cloudtrail',
  scope: 'global',
  covers: (home) => [home],
  checks: ['cloudtrail.multi_region', 'cloudtrail.log_file_validation', 'cloudtrail.kms_encryption', 'cloudtrail.cloudwatch_logs'],

  async collect({ conn, region, concurrency }) {
    const home = conn.client('cloudtrail', region, (c) => new CloudTrailClient(c));
    const list = (await home.send(new DescribeTrailsCommand({ includeShadowTrails: true }))).trailList ?? [];
    const trails = await mapLimit(list, concurrency, async (trail): Promise<TrailSnapshot> => {
      const ct = conn.client('cloudtrail', trail.HomeRegion ?? region, (c) => new CloudTrailClient(c));
      const Name = trail.TrailARN ?? trail.Name;
      return {
        trail,
        logging: await read(async () => (await ct.send(new GetTrailStatusCommand({ Name }))).IsLogging === true, []),
        managementEvents: await read(async () => {
          const sel = await ct.send(new GetEventSelectorsCommand({ TrailName: Name }));
          // Advanced selectors: management events, not narrowed to reads or to writes by a `readOnly` field.
          if (sel.AdvancedEventSelectors?.length) {
            return sel.AdvancedEventSelectors.some((a) => {
              const fields = a.FieldSelectors ?? [];
              return fields.some((f) => f.Field === 'eventCategory' && f.Equals?.includes('Management')) && !fields.some((f) => f.Field === 'readOnly');
            });
          }
          // No selectors at all is CloudTrail's default: management events, read and write.
          if (!sel.EventSelectors?.length) return true;
          return sel.EventSelectors.some((e) => e.IncludeManagementEvents !== false && (e.ReadWriteType ?? 'All') === 'All');
        }, []),
      };
    });
    return { trails };
  },

  evaluate(s, { region, target }) {
    const out = new Results();
    const good = s.trails.filter((t) => t.trail.IsMultiRegionTrail && t.logging.ok && t.logging.value && t.managementEvents.ok && t.managementEvents.value);
    out.check('cloudtrail.multi_region', accountResource(target, 'global'), good.length > 0, good.length > 0 ? `logging multi-region trail(s): ${good.map((t) => t.trail.Name).join(', ')}` : `${s.trails.length} trail(s), none multi-region, logging and recording management events`);
    for (const { trail } of s.trails) {
      const name = trail.Name ?? '?';
      const home = trail.HomeRegion ?? region;
      const ref: ResourceRef = { uid: trail.TrailARN ?? `arn:${target.partition}:cloudtrail:${home}:${target.accountId}:trail/${name}`, type: 'AWS::CloudTrail::Trail', name, region: trail.IsMultiRegionTrail ? 'global' : home };
      out.check('cloudtrail.log_file_validation', ref, trail.LogFileValidationEnabled === true, `LogFileValidationEnabled ${trail.LogFileValidationEnabled === true}`);
      out.check('cloudtrail.kms_encryption', ref, Boolean(trail.KmsKeyId), trail.KmsKeyId ? 'KMS key set' : 'no KMS key');
      out.check('cloudtrail.cloudwatch_logs', ref, Boolean(trail.CloudWatchLogsLogGroupArn), trail.CloudWatchLogsLogGroupArn ? 'sends to CloudWatch Logs' : 'no CloudWatch Logs group');
    }
    return out.done();
  },
};
