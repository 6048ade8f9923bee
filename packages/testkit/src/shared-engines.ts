/**
 * The shared servers `bash scripts/engines.sh start` runs for the engine suite (Ceph RGW, moto),
 * read from the env file it writes. Tests needing them call `sharedEngines()`: without them it
 * throws with the command to run, so a missing engine fails loudly instead of skipping.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SharedEngines {
  /** Ceph RGW: the real S3 engine (path-style, region is not checked). */
  ceph: { endpoint: string; accessKeyId: string; secretAccessKey: string };
  /** moto's server: S3 and the other AWS APIs; any credentials are accepted. */
  moto: { endpoint: string; accessKeyId: string; secretAccessKey: string };
}

export function sharedEngines(): SharedEngines {
  const file = join(process.env.ENGINES_DIR ?? '/tmp/strata-engines', 'engines.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`shared engines are not running (no ${file}): run \`bash scripts/engines.sh start\``);
  }
  const env = Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
  const need = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`${file} has no ${name}: run \`bash scripts/engines.sh start\``);
    return v;
  };
  return {
    ceph: { endpoint: need('STRATA_TEST_CEPH_URL'), accessKeyId: need('STRATA_TEST_CEPH_KEY'), secretAccessKey: need('STRATA_TEST_CEPH_SECRET') },
    moto: { endpoint: need('STRATA_TEST_MOTO_URL'), accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}
