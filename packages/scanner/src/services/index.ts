import type { ServiceName } from '../types.js';
import type { ServiceScanner } from './service.js';
import { cloudTrailScanner } from './cloudtrail.js';
import { ec2Scanner } from './ec2.js';
import { iamScanner } from './iam.js';
import { kinesisScanner } from './kinesis.js';
import { kmsScanner } from './kms.js';
import { rdsScanner } from './rds.js';
import { s3Scanner } from './s3.js';
import { secretsManagerScanner } from './secretsmanager.js';
import { vpcScanner } from './vpc.js';

/** Every service scanner, by the name `--services` takes. */
export const SCANNERS: Readonly<Record<ServiceName, ServiceScanner<unknown>>> = {
  ec2: ec2Scanner as ServiceScanner<unknown>,
  vpc: vpcScanner as ServiceScanner<unknown>,
  s3: s3Scanner as ServiceScanner<unknown>,
  rds: rdsScanner as ServiceScanner<unknown>,
  iam: iamScanner as ServiceScanner<unknown>,
  kms: kmsScanner as ServiceScanner<unknown>,
  cloudtrail: cloudTrailScanner as ServiceScanner<unknown>,
  kinesis: kinesisScanner as ServiceScanner<unknown>,
  secretsmanager: secretsManagerScanner as ServiceScanner<unknown>,
};
