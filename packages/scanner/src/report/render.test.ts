import { describe, expect, it } from 'vitest';
import { countResults, type ScanReport } from '../runner.js';
import type { CheckResult } from '../types.js';
import { renderFindingsMarkdown, renderMarkdown } from './render.js';

const evil = '<img src=x onerror=alert(1)>|x\nline';
const result: CheckResult = { checkId: 'ec2.volume_encrypted', status: 'FAIL', detail: evil, resource: { uid: 'arn:aws:ec2:eu-west-3:111122223333:volume/vol-1', type: 'AWS::EC2::Volume', name: evil, region: 'eu-west-3' } };
const report: ScanReport = {
  scanId: 's', startedAt: '2026-11-22T08:00:00.000Z', finishedAt: '2026-11-22T08:00:01.000Z', durationMs: 1000, target: { accountId: '111122223333', partition: 'aws' }, auth: { mode: 'default' },
  regions: ['eu-west-3'], services: ['ec2'], completed: ['ec2@eu-west-3'], resources: [result.resource], results: [result], counts: countResults(1, [result]), calls: { total: 1, byOperation: {} },
  errors: [{ service: 'kms', region: 'eu-west-3', kind: 'error', code: 'X', message: evil }],
};

describe('Markdown reports', () => {
  it('carry names, details and messages from the account as text, never as markup', () => {
    const findings = renderFindingsMarkdown([{ uid: 'u', accountId: '111122223333', check: result.checkId, title: 't', dimension: 'security', severity: 'high', status: 'FAIL', state: 'active', resource: result.resource, detail: evil, remediation: 'r', firstSeen: '', lastSeen: '', closedAt: null, scanId: 's' }]);
    for (const md of [renderMarkdown(report), findings]) {
      expect(md).not.toContain('<img');
      expect(md).toContain('&lt;img src=x onerror=alert(1)&gt;\\|x line');
    }
  });
});
