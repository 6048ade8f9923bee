import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '@strata/db';
import { seededDataDir } from '@strata/db/testing';
import { ai4iCsv } from '@strata/ml/testing';
import { tempDir } from '@strata/testkit';
import { strataInProcess } from '../test-support.js';
import { DEFAULT_AI4I_CSV, registerMl } from './ml.js';

/** The commands as `strata` runs them (commander, the run wrapper's exit codes), in process. */
const strata = (args: string[]) => strataInProcess((program) => registerMl(program, { USER: 'tester' }), args);

const data = await seededDataDir('cli-ml');
const files = tempDir('cli-ml-files');
const csv = join(files.dir, 'ai4i-small.csv');
const holdout = join(files.dir, 'ai4i-other.csv');
const garbage = join(files.dir, 'garbage.csv');
writeFileSync(csv, ai4iCsv(900, 3));
writeFileSync(holdout, ai4iCsv(400, 99));
writeFileSync(garbage, 'UDI,Type,Torque [Nm]\n1,L,40\n2,M,oops\n');
afterAll(() => {
  data.remove();
  files.remove();
});
const at = ['--data', data.dir];

describe('strata ml', () => {
  it('trains, registers and prints the metrics; --compare trains the baseline too', async () => {
    const res = await strata(['ml', 'train', '--file', csv, '--trees', '20', '--compare', ...at]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^pm v1 \(gbt\) registered\n/);
    expect(res.stdout).toContain('data ai4i-small.csv: 900 rows');
    for (const label of ['F1', 'precision', 'recall', 'PR-AUC', 'threshold', 'confusion']) expect(res.stdout).toMatch(new RegExp(`^${label} `, 'm'));
    expect(res.stdout).toContain('logistic test');
    expect(res.stdout).toMatch(/test F1 gbt \d\.\d{3} vs logistic \d\.\d{3} \(Δ [+-]\d\.\d{3}\)/);

    const json = await strata(['ml', 'train', '--file', csv, '--kind', 'logistic', '--json', ...at]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'pm', version: 2, created: true, activated: false, kind: 'logistic', data: { rows: 900 } });
    // The same job again makes the same bytes: no new version.
    const again = await strata(['ml', 'train', '--file', csv, '--kind', 'logistic', '--json', ...at]);
    expect(JSON.parse(again.stdout)).toMatchObject({ version: 2, created: false });
  });

  it('lists versions, activates one, and audits it', async () => {
    const before = await strata(['ml', 'list', ...at]);
    expect(before.code).toBe(0);
    expect(before.stdout.split('\n')[0]).toMatch(/^NAME\s+VERSION\s+KIND\s+F1\s+PR-AUC\s+ACTIVE\s+CREATED$/);
    expect(before.stdout).toMatch(/^pm\s+1\s+gbt\s+\d\.\d{3}\s+\d\.\d{3}\s+\d{4}-/m);

    const activated = await strata(['ml', 'activate', 'pm', '1', ...at]);
    expect(activated).toMatchObject({ code: 0, stdout: 'pm v1 is active\n' });
    expect((await strata(['ml', 'activate', 'pm', '2', ...at])).stdout).toBe('pm v2 is active (was v1)\n');
    const list = JSON.parse((await strata(['ml', 'list', '--json', ...at])).stdout) as { version: number; active: boolean }[];
    expect(list.map((m) => [m.version, m.active])).toEqual([[1, false], [2, true]]);
    const missing = await strata(['ml', 'activate', 'pm', '7', ...at]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no model pm@7 in the registry [STRATA_ERR_ML_MODEL_NOT_FOUND]');

    const db = await openDatabase({ dir: join(data.dir, 'db') });
    try {
      const audit = await db.kysely.selectFrom('audit_log').select(['actor', 'action', 'resource']).where('action', 'like', 'ml.%').orderBy('id').execute();
      expect(audit).toEqual([
        { actor: 'cli:tester', action: 'ml.model.register', resource: 'model:pm@1' },
        { actor: 'cli:tester', action: 'ml.model.register', resource: 'model:pm@2' },
        { actor: 'cli:tester', action: 'ml.model.activate', resource: 'model:pm@1' },
        { actor: 'cli:tester', action: 'ml.model.activate', resource: 'model:pm@2' },
      ]);
    } finally {
      await db.close();
    }
  });

  it('evaluates a registered model on another labelled file', async () => {
    const res = await strata(['ml', 'evaluate', 'pm@1', '--file', holdout, '--json', ...at]);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out).toMatchObject({ name: 'pm', version: 1, file: 'ai4i-other.csv', metrics: { rows: 400 } });
    expect(out.metrics.f1).toBeGreaterThan(0.3);
    const text = await strata(['ml', 'evaluate', 'pm', '--file', holdout, ...at]);
    expect(text.stdout).toMatch(/^pm v2 on ai4i-other.csv\n/); // the active one
    expect(text.stdout).toMatch(/^PR-AUC\s+\d\.\d{3}$/m);
  });

  it('refuses a garbage CSV with a message naming the problem and a non-zero exit', async () => {
    for (const args of [['ml', 'evaluate', 'pm@1', '--file', garbage], ['ml', 'train', '--file', garbage]]) {
      const res = await strata([...args, ...at]);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toMatch(/^strata: training data .*garbage\.csv line 1: no column "Air temperature \[K\]" \[STRATA_ERR_ML_DATA\]\n$/);
    }
    expect((await strata(['ml', 'evaluate', 'pm@1', '--file', join(files.dir, 'nope.csv'), ...at])).stderr).toMatch(/nope\.csv: no such file/);
    expect((await strata(['ml', 'train', ...at])).stderr).toMatch(/--file is required/);
    expect((await strata(['ml', 'evaluate', 'PM!', '--file', holdout, ...at])).code).toBe(2);
    expect((await strata(['ml', 'train', '--file', csv, '--kind', 'forest', ...at])).code).toBe(2);
  });

  it('takes the default --name from the config\'s ml.model, as the server does', async () => {
    const config = join(files.dir, 'strata.yaml');
    writeFileSync(config, 'ml:\n  model: press\n');
    const res = await strata(['ml', 'bootstrap', '--file', csv, '--trees', '20', '--config', config, ...at]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^press v1 \(gbt\) registered, active\n/);
    const list = await strata(['ml', 'list', '--name', 'press', '--json', ...at]);
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: 'press', version: 1, active: true }]);
  });

  it('bootstraps only when no model is active', async () => {
    const res = await strata(['ml', 'bootstrap', '--file', csv, ...at]);
    expect(res).toMatchObject({ code: 0, stdout: 'pm v2 is active already; nothing to do\n' });
    const fresh = await seededDataDir('cli-ml-bootstrap');
    try {
      const first = await strata(['ml', 'bootstrap', '--file', csv, '--trees', '20', '--data', fresh.dir]);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/^pm v1 \(gbt\) registered, active\n/);
      const second = await strata(['ml', 'bootstrap', '--file', csv, '--data', fresh.dir]);
      expect(second).toMatchObject({ code: 0, stdout: 'pm v1 is active already; nothing to do\n' });
    } finally {
      fresh.remove();
    }
  });

  it('trains on Azure PdM logs with generated telemetry (--from pdm --generate), a time split and the rolling spec', async () => {
    const logs = join(files.dir, 'pdm');
    mkdirSync(logs);
    const ids = [1, 2, 3, 4, 5, 6];
    const day = (d: number) => new Date(Date.UTC(2020, 0, 1) + d * 86_400_000).toISOString().slice(0, 19).replace('T', ' ');
    writeFileSync(join(logs, 'PdM_machines.csv'), `machineID,model,age\n${ids.map((m) => `${m},model${(m % 4) + 1},${m}`).join('\n')}\n`);
    writeFileSync(join(logs, 'PdM_failures.csv'), `datetime,machineID,failure\n${ids.flatMap((m) => [5, 17, 29, 41, 53].map((d, k) => `${day(d + (m % 3))},${m},"comp${((m + k) % 4) + 1}"`)).join('\n')}\n`);
    writeFileSync(join(logs, 'PdM_maint.csv'), `datetime,machineID,comp\n${ids.flatMap((m) => [1, 2, 3, 4].map((c) => `2019-12-01 06:00:00,${m},comp${c}`)).join('\n')}\n`);
    writeFileSync(join(logs, 'PdM_errors.csv'), 'datetime,machineID,errorID\n');

    expect((await strata(['ml', 'train', '--from', 'pdm', ...at])).stderr).toMatch(/--logs DIR is required/);
    expect((await strata(['ml', 'train', '--from', 'pdm', '--logs', logs, ...at])).stderr).toMatch(/needs --generate/);
    const res = await strata(['ml', 'train', '--from', 'pdm', '--logs', logs, '--generate', '--start', '2020-01-01', '--end', '2020-03-01', '--kind', 'logistic', '--name', 'pdm', '--json', ...at]);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ name: 'pdm', version: 1, kind: 'logistic', data: { source: 'azure_pdm' } });
    const model = await strata(['ml', 'list', '--name', 'pdm', '--json', ...at]);
    const [record] = JSON.parse(model.stdout) as { featureNames: string[] }[];
    expect(record!.featureNames).toContain('voltMean24h');
    expect(record!.featureNames).toContain('hoursSinceComp1');
  });

  it.runIf(existsSync(DEFAULT_AI4I_CSV))('bootstraps from the real AI4I 2020 file by default', async () => {
    const fresh = await seededDataDir('cli-ml-ai4i');
    try {
      const res = await strata(['ml', 'bootstrap', '--json', '--data', fresh.dir]);
      expect(res.code, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout);
      expect(out).toMatchObject({ status: 'trained', name: 'pm', version: 1, activated: true, data: { source: 'ai4i2020.csv', rows: 10_000, positives: 339 } });
      expect(out.metrics.test.f1).toBeGreaterThan(0.75);
    } finally {
      fresh.remove();
    }
  }, 120_000);
});
