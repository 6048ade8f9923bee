import { describe, expect, it } from 'vitest';
import { countResults, scanError } from './runner.js';

const awsError = (name: string, status: number, message = 'm') => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

describe('scan errors', () => {
  it('are classified: access denied, unreachable, unsupported, other', () => {
    expect(scanError('ec2', 'eu-west-3', awsError('UnauthorizedOperation', 403)).kind).toBe('access_denied');
    expect(scanError('s3', 'global', awsError('AccessDenied', 403)).kind).toBe('access_denied');
    expect(scanError('rds', 'eu-west-3', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toMatchObject({ kind: 'unreachable', code: 'ECONNREFUSED' });
    expect(scanError('kms', 'eu-west-3', awsError('InvalidAction', 400)).kind).toBe('unsupported');
    expect(scanError('kms', 'eu-west-3', awsError('Error', 500, 'not xml'))).toMatchObject({ kind: 'error', code: 'HTTP 500' });
  });

  it('never carry a key or a secret of the scan, and stay short', () => {
    const e = scanError('sts', 'us-east-1', awsError('InvalidClientTokenId', 403, `key AKIAABCDEFGHIJKLMNOP with secret s3cr3t-value ${'x'.repeat(500)}`), ['s3cr3t-value']);
    expect(e.message).not.toContain('AKIAABCDEFGHIJKLMNOP');
    expect(e.message).not.toContain('s3cr3t-value');
    expect(e.message.length).toBeLessThanOrEqual(300);
  });
});

describe('counts', () => {
  it('count outcomes and failures per severity', () => {
    const r = (checkId: string, status: 'PASS' | 'FAIL' | 'WARNING') => ({ checkId, status, detail: '', resource: { uid: 'u', type: 't', name: 'n', region: 'r' } });
    expect(countResults(2, [r('iam.root_mfa', 'FAIL'), r('s3.bucket_lifecycle', 'FAIL'), r('s3.bucket_lifecycle', 'PASS'), r('iam.user_mfa', 'WARNING')])).toEqual({
      resources: 2, results: 4, pass: 1, warning: 1, fail: 2, failBySeverity: { informational: 0, low: 1, medium: 0, high: 0, critical: 1 },
    });
  });
});
