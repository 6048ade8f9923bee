import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mlErrors } from '../errors.js';
import { loadPdmLogs, parsePdmLogs, type PdmLogFile } from './logs.js';

const DIR = new URL('../../../../../shared/data/azure_pdm/', import.meta.url).pathname;
const HAVE = existsSync(`${DIR}PdM_failures.csv`);
if (!HAVE) console.warn(`skipping the Azure PdM file tests: ${DIR} not found (../shared/data)`);

const good: Record<PdmLogFile, string> = {
  machines: '"machineID","model","age"\n1,"model3",18\n2,"model4",7\n',
  failures: '"datetime","machineID","failure"\n2020-01-05 06:00:00,1,"comp4"\n2020-01-02 03:00:00,2,"comp1"\n',
  maint: '"datetime","machineID","comp"\n2019-06-01 06:00:00,1,"comp2"\n2020-01-05 06:00:00,1,"comp4"\n',
  errors: '"datetime","machineID","errorID"\n2020-01-03 07:00:00,1,"error1"\n',
};

describe('Azure PdM logs', () => {
  it.skipIf(!HAVE)('reads the real files: 100 machines, 761 failures, 3,286 maintenance records, 3,919 errors', () => {
    const logs = loadPdmLogs(DIR);
    expect(logs.machines).toHaveLength(100);
    expect(logs.failures).toHaveLength(761);
    expect(logs.maint).toHaveLength(3286);
    expect(logs.errors).toHaveLength(3919);
    expect(logs.files).toEqual({
      machines: '711f25f2e88ebd77ba1633f347edb0fd8144bfd7a1ff1ba30fe245e7e04dafb0',
      failures: '56e2eba2b51f6bdd66665caadbf72d82f0550bb4d5097a469100e4585569c5fa',
      maint: '5cbc10bb7034cb6b2346764916fec0faf9bfaccdf4229da57bba0692d562c644',
      errors: '1454d77fb6e9c942b80268f09b94d5d2f6c42f78ba7d881defcf16b43ea43dd1',
    });
    expect(logs.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(logs.machines[0]).toEqual({ id: 1, device: 'machine-1', model: 'model3', age: 18 });
    const count = (c: string) => logs.failures.filter((f) => f.component === c).length;
    expect([count('comp1'), count('comp2'), count('comp3'), count('comp4')]).toEqual([192, 259, 131, 179]);
    expect(new Set(logs.errors.map((e) => e.error))).toEqual(new Set(['error1', 'error2', 'error3', 'error4', 'error5']));
    expect(logs.failures[0]!.ts).toBe(Date.UTC(2020, 0, 2, 3));
    expect(logs.maint[0]!.ts).toBe(Date.UTC(2019, 5, 1, 6));
    // sorted by time, then machine
    for (let i = 1; i < logs.errors.length; i++) expect(logs.errors[i]!.ts >= logs.errors[i - 1]!.ts).toBe(true);
  });

  it('parses quoted fields and UTC times, sorts by time then machine, hashes the four files', () => {
    const logs = parsePdmLogs(good);
    expect(logs.failures).toEqual([
      { ts: Date.UTC(2020, 0, 2, 3), machine: 2, component: 'comp1' },
      { ts: Date.UTC(2020, 0, 5, 6), machine: 1, component: 'comp4' },
    ]);
    expect(logs.machines.map((m) => m.device)).toEqual(['machine-1', 'machine-2']);
    expect(parsePdmLogs(good).sha256).toBe(logs.sha256);
    expect(parsePdmLogs({ ...good, errors: `${good.errors}2020-01-04 07:00:00,2,"error2"\n` }).sha256).not.toBe(logs.sha256);
  });

  it.each([
    ['machines', '"machineID","model","age"\n1,"model3",18\n1,"model4",7\n', /PdM_machines\.csv line 3: machine 1 appears twice/],
    ['machines', '"machineID","model","age"\n1,"model3",-1\n', /PdM_machines\.csv line 2: age: "-1" is not a number >= 0/],
    ['machines', '"machineID","model"\n1,"model3"\n', /PdM_machines\.csv line 1: no column "age"/],
    ['machines', '"machineID","model","age"\n', /PdM_machines\.csv: no machines/],
    ['failures', '"datetime","machineID","failure"\n2020-02-30 06:00:00,1,"comp4"\n', /PdM_failures\.csv line 2: datetime: "2020-02-30 06:00:00" is not a time/],
    ['failures', '"datetime","machineID","failure"\n2020-01-05 06:00:00,7,"comp4"\n', /PdM_failures\.csv line 2: machine 7 is not in PdM_machines\.csv/],
    ['maint', '"datetime","machineID","comp"\n2020-01-05 06:00:00,1,"comp 4"\n', /PdM_maint\.csv line 2: comp: "comp 4" is not an identifier/],
    ['maint', '"datetime","machineID","comp"\n2020-01-05 06:00:00,x1,"comp4"\n', /PdM_maint\.csv line 2: machineID: "x1" is not a positive integer/],
    ['errors', '"datetime","machineID","errorID"\n2020-01-03 07:00:00,1,"err,or1"\n', /PdM_errors\.csv line 2: unbalanced quote/],
    ['errors', '"datetime","machineID","errorID"\n2020-01-03 07:00:00,1\n', /PdM_errors\.csv line 2: 2 fields, the header has 3/],
  ] as const)('refuses bad %s rows with the file, line and reason', (file, text, message) => {
    const call = () => parsePdmLogs({ ...good, [file]: text });
    expect(call).toThrow(message);
    expect(call).toThrow(expect.objectContaining({ code: mlErrors.STRATA_ERR_ML_DATA.code }));
  });

  it('names a missing directory', () => {
    expect(() => loadPdmLogs('/nonexistent/azure_pdm')).toThrow(/PdM_machines\.csv: cannot read/);
  });
});
