import { describe, expect, it } from 'vitest';
import { SERVICES } from '@strata/scanner';
import { UsageError } from '../run.js';
import { scanOptionsFrom, type ScanFlags } from './scan.js';

const flags = (f: Partial<ScanFlags> = {}): ScanFlags => ({ regions: ['eu-west-3'], concurrency: 4, format: 'markdown', ...f });

describe('strata scan aws options', () => {
  it('default to every service and the default credential chain', () => {
    expect(scanOptionsFrom(flags())).toEqual({ regions: ['eu-west-3'], services: [...SERVICES], concurrency: 4, connection: { auth: { mode: 'default' } } });
    expect(scanOptionsFrom(flags({ regions: ['all'], profile: 'audit' })).connection.auth).toEqual({ mode: 'default', profile: 'audit' });
    expect(scanOptionsFrom(flags({ regions: ['all'] })).regions).toBe('all');
  });

  it('take static keys, AssumeRole on top of them, and an endpoint', () => {
    const keys = { accessKeyId: 'AKIAEXAMPLE0000000000', secretAccessKey: 's', sessionToken: 't' };
    expect(scanOptionsFrom(flags({ ...keys, endpoint: 'http://127.0.0.1:5000', homeRegion: 'eu-west-3' })).connection).toEqual({ auth: { mode: 'static', ...keys }, endpoint: 'http://127.0.0.1:5000', homeRegion: 'eu-west-3' });
    expect(scanOptionsFrom(flags({ ...keys, roleArn: 'arn:aws:iam::123456789012:role/audit', externalId: 'x-1' })).connection.auth).toEqual({ mode: 'assume-role', roleArn: 'arn:aws:iam::123456789012:role/audit', externalId: 'x-1', source: keys });
  });

  it('refuse what cannot work, naming the flag', () => {
    const bad: [Partial<ScanFlags>, RegExp][] = [
      [{ regions: ['moon-1'] }, /--regions: moon-1/],
      [{ regions: [] }, /--regions/],
      [{ services: ['ec2', 'lambda'] }, /--services: unknown service lambda/],
      [{ accessKeyId: 'AKIA' }, /go together/],
      [{ sessionToken: 't' }, /--session-token needs/],
      [{ externalId: 'x' }, /need --role-arn/],
      [{ roleArn: 'arn:aws:iam::12:user/x' }, /not an IAM role ARN/],
      [{ endpoint: 'ftp://x' }, /--endpoint: ftp: is not http/],
      [{ endpoint: 'http://k:s@127.0.0.1:5000' }, /--endpoint: user info/],
      [{ profile: 'p', accessKeyId: 'a', secretAccessKey: 's' }, /choose one/],
    ];
    for (const [f, message] of bad) expect(() => scanOptionsFrom(flags(f)), JSON.stringify(f)).toThrow(message);
    expect(() => scanOptionsFrom(flags({ regions: ['x'] }))).toThrow(UsageError);
  });
});
