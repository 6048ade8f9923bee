/** RDS: per DB instance, public access, encryption, Multi-AZ, backups, minor upgrades, deletion protection, Performance Insights. */
import { paginateDescribeDBInstances, RDSClient, type DBInstance } from '@aws-sdk/client-rds';
import type { ResourceRef } from '../types.js';
import { Results, tagsOf, type ServiceScanner } from './service.js';

export interface RdsSnapshot {
  instances: DBInstance[];
}

export const MIN_BACKUP_RETENTION_DAYS = 7;

export const rdsScanner: ServiceScanner<RdsSnapshot> = {
  service: 'rds',
  scope: 'regional',
  checks: ['rds.instance_public', 'rds.instance_encrypted', 'rds.instance_multi_az', 'rds.instance_backup_retention', 'rds.instance_minor_upgrades', 'rds.instance_deletion_protection', 'rds.instance_performance_insights'],

  async collect({ conn, region }) {
    const rds = conn.client('rds', region, (c) => new RDSClient(c));
    const instances: DBInstance[] = [];
    for await (const page of paginateDescribeDBInstances({ client: rds, pageSize: 100 }, {})) instances.push(...(page.DBInstances ?? []));
    return { instances };
  },

  evaluate(s, { region, target }) {
    const out = new Results();
    for (const db of s.instances) {
      const id = db.DBInstanceIdentifier ?? '?';
      const ref: ResourceRef = { uid: db.DBInstanceArn ?? `arn:${target.partition}:rds:${region}:${target.accountId}:db:${id}`, type: 'AWS::RDS::DBInstance', name: id, region, ...tagsOf(db.TagList) };
      out.check('rds.instance_public', ref, db.PubliclyAccessible !== true, db.PubliclyAccessible ? 'publicly accessible' : 'private');
      out.check('rds.instance_encrypted', ref, db.StorageEncrypted === true, db.StorageEncrypted ? 'storage encrypted' : 'storage not encrypted');
      out.check('rds.instance_multi_az', ref, db.MultiAZ === true, db.MultiAZ ? 'Multi-AZ' : 'single-AZ');
      const days = db.BackupRetentionPeriod ?? 0;
      out.check('rds.instance_backup_retention', ref, days >= MIN_BACKUP_RETENTION_DAYS, `backups kept ${days} day(s)`);
      out.check('rds.instance_minor_upgrades', ref, db.AutoMinorVersionUpgrade === true, `AutoMinorVersionUpgrade ${db.AutoMinorVersionUpgrade === true}`);
      out.check('rds.instance_deletion_protection', ref, db.DeletionProtection === true, `DeletionProtection ${db.DeletionProtection === true}`);
      out.check('rds.instance_performance_insights', ref, db.PerformanceInsightsEnabled === true, `PerformanceInsightsEnabled ${db.PerformanceInsightsEnabled === true}`);
    }
    return out.done();
  },
};
