/**
 * `strata ml train --from lake`: telemetry written into the lake as the platform writes it (raw
 * NDJSON objects in delivery's layout, then the bronze and silver jobs), trained on with Azure
 * PdM logs. The lake path is checked against `buildPdmDataset` on the same generated telemetry:
 * same samples (sha256), same feature rows.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { seededDataDir } from '@strata/db/testing';
import { hourPath } from '@strata/lake';
import { buildPdmDataset, featureNames, generatePdmTelemetry, loadPdmLogs, PDM_SCHEMA, type PdmLogs } from '@strata/ml';
import { tempDir } from '@strata/testkit';
import { lakeRun } from './commands/lake.js';
import { readLakeTelemetry, registerMl, type TrainResult } from './commands/ml.js';
import { strataInProcess } from './test-support.js';

/** `strata ml …` in process (commander, the run wrapper's exit codes). */
const strata = (args: string[]) => strataInProcess((program) => registerMl(program, { USER: 'tester' }), args);

const files = tempDir('cli-ml-lake');
afterAll(() => files.remove());
// The telemetry is months or years old: keep every day (retention counts from today).
const config = join(files.dir, 'strata.json');
writeFileSync(config, JSON.stringify({ lake: { retentionDays: { bronze: 0, quarantine: 0, silver: 0, gold: 0 } } }));

/** The machines' telemetry as delivery writes it: per event hour, gzip NDJSON of events; then bronze and silver. */
async function fillLake(dataDir: string, samples: ReturnType<typeof generatePdmTelemetry>, extra: Array<Record<string, unknown>>): Promise<void> {
  const byHour = new Map<number, string[]>();
  const add = (ts: number, line: string) => {
    const hour = Math.floor(ts / 3_600_000) * 3_600_000;
    let lines = byHour.get(hour);
    if (!lines) byHour.set(hour, (lines = []));
    lines.push(line);
  };
  for (const s of samples) {
    const ts = new Date(s.ts).toISOString();
    add(s.ts, JSON.stringify({ id: `${s.device}-${s.ts}`, device: s.device, ts, metrics: s.metrics, tags: { kind: 'machine' }, received_at: ts, source: 'mqtt' }));
  }
  for (const e of extra) add(Date.parse(String(e.ts)), JSON.stringify(e));
  let offset = 0;
  for (const [hour, lines] of [...byHour].sort(([a], [b]) => a - b)) {
    const path = join(dataDir, 'lake', 'raw', 'telemetry', hourPath(hour), `telemetry-0-${offset}-${offset + lines.length - 1}.ndjson.gz`);
    offset += lines.length;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, gzipSync(lines.join('\n') + '\n'));
  }
  await lakeRun({ data: dataDir, config, layer: ['bronze', 'silver'], logLevel: 'error' }, {});
}

/** Trains from the lake, and checks the model and the rows against the telemetry built directly. */
async function trainAndCompare(dataDir: string, logsDir: string, logs: PdmLogs, telemetry: ReturnType<typeof generatePdmTelemetry>, args: string[] = []): Promise<TrainResult> {
  const res = await strata(['ml', 'train', '--from', 'lake', '--logs', logsDir, '--kind', 'logistic', '--name', 'pdm-lake', '--json', '--data', dataDir, '--config', config, ...args]);
  expect(res.code, res.stderr).toBe(0);
  const result = JSON.parse(res.stdout) as TrainResult;
  const direct = buildPdmDataset({ telemetry, logs, sampleEveryHours: 6, source: 'lake+azure_pdm' });
  // The same samples in the same order (the hash covers device, time and every value's bits), so the same rows.
  expect(result).toMatchObject({ name: 'pdm-lake', version: 1, created: true, kind: 'logistic' });
  expect(result.data).toEqual({ source: 'lake+azure_pdm', sha256: direct.sha256, rows: direct.rows.length, positives: direct.labels.reduce((n, l) => n + l, 0) });
  expect(result.data.positives).toBeGreaterThan(0);

  const listed = await strata(['ml', 'list', '--name', 'pdm-lake', '--json', '--data', dataDir]);
  const [record] = JSON.parse(listed.stdout) as Array<{ version: number; featureNames: string[] }>;
  expect(record).toMatchObject({ version: 1, featureNames: featureNames(PDM_SCHEMA) });

  const { telemetry: fromLake } = await readLakeTelemetry({ data: dataDir, config }, {}, logs.machines.map((m) => m.device), {});
  const rebuilt = buildPdmDataset({ telemetry: fromLake, logs, sampleEveryHours: 6, source: 'lake+azure_pdm' });
  expect(rebuilt.rows).toEqual(direct.rows);
  expect(rebuilt.times).toEqual(direct.times);
  expect(rebuilt.devices).toEqual(direct.devices);
  expect([...rebuilt.labels]).toEqual([...direct.labels]);
  return result;
}

describe('strata ml train --from lake', () => {
  it('trains on the machines\' telemetry in silver plus PdM logs, as buildPdmDataset does on the same telemetry', async () => {
    // Logs of 10 machines; telemetry for 9 of them (machine-10 has none) and for a device not in the logs.
    const logsDir = join(files.dir, 'fixture-logs');
    mkdirSync(logsDir);
    const ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const day = (d: number) => new Date(Date.UTC(2020, 0, 1) + d * 86_400_000).toISOString().slice(0, 19).replace('T', ' ');
    writeFileSync(join(logsDir, 'PdM_machines.csv'), `machineID,model,age\n${ids.map((m) => `${m},model${(m % 4) + 1},${m}`).join('\n')}\n`);
    writeFileSync(join(logsDir, 'PdM_failures.csv'), `datetime,machineID,failure\n${ids.flatMap((m) => [5, 17, 29, 41, 53, 65, 77].map((d, k) => `${day(d + (m % 3))},${m},"comp${((m + k) % 4) + 1}"`)).join('\n')}\n`);
    writeFileSync(join(logsDir, 'PdM_maint.csv'), `datetime,machineID,comp\n${ids.flatMap((m) => [1, 2, 3, 4].map((c) => `2019-12-01 06:00:00,${m},comp${c}`)).join('\n')}\n`);
    writeFileSync(join(logsDir, 'PdM_errors.csv'), `datetime,machineID,errorID\n${ids.map((m) => `${day(10 + m)},${m},error${(m % 5) + 1}`).join('\n')}\n`);
    const logs = loadPdmLogs(logsDir);
    const telemetry = generatePdmTelemetry({ logs, seed: 7, from: Date.UTC(2020, 0, 1), to: Date.UTC(2020, 3, 1), machines: ids.slice(0, 9) });

    const data = await seededDataDir('cli-ml-lake');
    try {
      const other = (h: number) => ({ id: `p-${h}`, device: 'press-9', ts: new Date(Date.UTC(2020, 1, 1, h)).toISOString(), metrics: { volt: 230 }, received_at: new Date(Date.UTC(2020, 1, 1, h)).toISOString(), source: 'http' });
      await fillLake(data.dir, telemetry, [other(0), other(1)]);
      const result = await trainAndCompare(data.dir, logsDir, logs, telemetry);
      expect(result.lake).toEqual({ machines: 10, samples: telemetry.length, withoutTelemetry: ['machine-10'], otherDevices: 1, otherRows: 2 });

      const text = await strata(['ml', 'train', '--from', 'lake', '--logs', logsDir, '--kind', 'logistic', '--name', 'pdm-lake', '--data', data.dir, '--config', config, '--machines', '6', '--since', '2020-02-01', '--until', '2020-04-01T00:00:00Z']);
      expect(text.code, text.stderr).toBe(0);
      // machine-7 to 9 (past --machines) and press-9 are ignored: 3 × 1440 samples × 4 metrics + 2 rows.
      expect(text.stdout).toMatch(/^pdm-lake v2 \(logistic\) registered\ndata lake\+azure_pdm: \d+ rows, [1-9]\d* failures, sha256 [0-9a-f]{64}\nlake: 8640 samples of 6 of 6 machines; ignored 4 other devices \(17282 silver rows\)\n/);

      const fail = async (args: string[], message: RegExp) => {
        const res = await strata(['ml', 'train', '--from', 'lake', '--data', data.dir, '--config', config, ...args]);
        expect(res.stderr).toMatch(message);
        expect(res.code).toBe(2);
      };
      await fail([], /--logs DIR is required with --from lake/);
      await fail(['--logs', join(files.dir, 'nowhere')], /cannot read .*PdM_machines\.csv/);
      await fail(['--logs', logsDir, '--since', '2021-01-01'], /no telemetry \(volt, rotate, pressure, vibration\) of the logs' 10 machines in the lake's silver table from 2021-01-01T00:00:00.000Z$/m);
      const onlyTen = join(files.dir, 'machine-10-logs');
      mkdirSync(onlyTen);
      const logFiles = ['PdM_failures.csv', 'PdM_maint.csv', 'PdM_errors.csv'];
      for (const f of logFiles) writeFileSync(join(onlyTen, f), readFileSync(join(logsDir, f)));
      writeFileSync(join(onlyTen, 'PdM_machines.csv'), 'machineID,model,age\n10,model3,10\n');
      await fail(['--logs', onlyTen], /PdM_failures.csv line 2: machine 1 is not in PdM_machines.csv/);
      for (const f of logFiles) {
        const [head, ...lines] = readFileSync(join(logsDir, f), 'utf8').trim().split('\n');
        writeFileSync(join(onlyTen, f), [head, ...lines.filter((l) => l.split(',')[1] === '10')].join('\n') + '\n');
      }
      await fail(['--logs', onlyTen], /no telemetry .* of the logs' 1 machines in the lake's silver table \(10 other devices have some; machines are named machine-<machineID>\)/);
      await fail(['--logs', logsDir, '--until', '2020-01-04'], /no failures of the machines with telemetry/);
      await fail(['--logs', logsDir, '--since', '2020-02-01', '--until', '2020-01-01'], /--until must be after --since/);
    } finally {
      data.remove();
    }
  }, 60_000);

  const azure = join(dirname(new URL(import.meta.url).pathname), '../../../../shared/data/azure_pdm');
  it.runIf(existsSync(join(azure, 'PdM_failures.csv')))('trains on the real Azure PdM logs with their machines\' telemetry in the lake', async () => {
    const logs = loadPdmLogs(azure);
    const machines = logs.machines.slice(0, 10);
    const telemetry = generatePdmTelemetry({ logs, seed: 3, from: Date.UTC(2020, 0, 1), to: Date.UTC(2020, 3, 1), machines: machines.map((m) => m.id) });
    // The shared copy's logs run through 2020 (PROVENANCE.txt).
    const data = await seededDataDir('cli-ml-lake-azure');
    try {
      await fillLake(data.dir, telemetry, []);
      const result = await trainAndCompare(data.dir, azure, logs, telemetry, ['--machines', '10']);
      expect(result.lake).toEqual({ machines: 10, samples: telemetry.length, withoutTelemetry: [], otherDevices: 0, otherRows: 0 });
    } finally {
      data.remove();
    }
  }, 60_000);
});
