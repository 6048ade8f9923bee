/**
 * Reading speed of the healthcare CSV: this package's parser against csv-parse on the same bytes.
 * `node --import tsx packages/records/bench/csv-parse.ts [file]` prints one JSON line of
 * median milliseconds over 7 runs (after 2 warm-ups). Default file: the real 55,500-row dataset.
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { cleanRow } from '../src/csv/clean.js';
import { readCsv } from '../src/csv/parse.js';

const file = process.argv[2] ?? '/work/shared/data/healthcare_dataset/healthcare_dataset.csv';

async function stateMachine(): Promise<number> {
  let rows = 0;
  for await (const batch of readCsv(createReadStream(file))) rows += batch.length;
  return rows;
}

async function stateMachineAndClean(): Promise<number> {
  let rows = 0;
  for await (const batch of readCsv(createReadStream(file))) {
    for (const r of batch) if ('row' in cleanRow(r.fields, r.line)) rows++;
  }
  return rows;
}

async function csvParse(): Promise<number> {
  let rows = 0;
  const parser = createReadStream(file).pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true, from_line: 2 }));
  for await (const record of parser as AsyncIterable<{ info: { lines: number }; record: string[] }>) if (record.record.length > 0) rows++;
  return rows;
}

async function median(run: () => Promise<number>): Promise<{ ms: number; rows: number }> {
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    rows = await run();
    if (i >= 2) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: Math.round(times[Math.floor(times.length / 2)]!), rows };
}

const result = {
  file,
  readCsv: await median(stateMachine),
  readCsvAndCleanRow: await median(stateMachineAndClean),
  csvParse: await median(csvParse),
};
console.log(JSON.stringify(result));
