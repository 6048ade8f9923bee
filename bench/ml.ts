/**
 * bench:ml — predictive maintenance on AI4I 2020 (../shared/data, 10,000 rows, 339 failures):
 * the boosted trees and the logistic baseline, each trained by `trainModel` (stratified 80/20
 * split, threshold from 4-fold out-of-fold F1 on the 80 %), scored on the held-out 20 %.
 *
 *   node --import tsx bench/ml.ts [--file path] [--seed 42] [--latency-rows 2000] [--batch 10000] [--repeat 3]
 *
 * Per model: F1, precision, recall, PR-AUC and the confusion matrix of the failure class on the
 * test part; training seconds (the whole job: 4 threshold folds + the final fit, and the final fit
 * alone); predict latency p50/p99 of `predict(artifact, [row])` (one row, top-3 contributions,
 * validation included); batch scoring rows/s (`predict` on `--batch` rows, with and without
 * contributions, best of `--repeat`). Writes bench/results/ml.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AI4I_SCHEMA, encodeRows, fitGbt, fitLogistic, loadLabelledCsv, predict, stratifiedSplit, trainModel, type GbtParams, type LogisticParams, type ModelArtifact } from '@strata/ml';
import { arg, int } from './args.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const FILE = arg('file') ?? join(here, '../../shared/data/ai4i2020/ai4i2020.csv');
const SEED = int('seed', 42, 0);
const LATENCY_ROWS = int('latency-rows', 2000, 10);
const BATCH = int('batch', 10_000, 1);
const REPEAT = int('repeat', 3, 1);
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const data = loadLabelledCsv(FILE, AI4I_SCHEMA);
console.log(`${data.rows.length} rows, ${data.labels.reduce((s, y) => s + y, 0)} failures, sha256 ${data.sha256.slice(0, 12)}…`);

function bench(kind: 'gbt' | 'logistic') {
  let start = performance.now();
  const artifact: ModelArtifact = trainModel(data, AI4I_SCHEMA, { kind, seed: SEED });
  const trainSeconds = (performance.now() - start) / 1000;
  // The final fit alone, on the same training rows (the job above also fits 4 fold models).
  const X = encodeRows(AI4I_SCHEMA, data.rows);
  const { train } = stratifiedSplit(data.labels, artifact.split.holdout, SEED);
  const trainX = train.map((i) => X[i]!);
  const trainY = Uint8Array.from(train, (i) => data.labels[i]!);
  start = performance.now();
  if (kind === 'gbt') fitGbt(trainX, trainY, artifact.params as GbtParams, SEED);
  else fitLogistic(trainX, trainY, artifact.params as LogisticParams);
  const fitSeconds = (performance.now() - start) / 1000;

  const rows = data.rows;
  for (let i = 0; i < 200; i++) predict(artifact, [rows[i % rows.length]]); // warm-up
  const lat: number[] = [];
  for (let i = 0; i < LATENCY_ROWS; i++) {
    const row = rows[(i * 7919) % rows.length];
    const t = performance.now();
    predict(artifact, [row]);
    lat.push((performance.now() - t) * 1000);
  }
  lat.sort((a, b) => a - b);
  const batch = Array.from({ length: BATCH }, (_, i) => rows[i % rows.length]!);
  const throughput = (top: number) => {
    let best = Infinity;
    for (let r = 0; r < REPEAT; r++) {
      const t = performance.now();
      predict(artifact, batch, { top });
      best = Math.min(best, (performance.now() - t) / 1000);
    }
    return Math.round(BATCH / best);
  };
  const test = artifact.metrics.test!;
  const result = {
    kind,
    test: { f1: round(test.f1), precision: round(test.precision), recall: round(test.recall), prAuc: round(test.prAuc), threshold: round(test.threshold, 4), confusion: test.confusion, rows: test.rows, positives: test.positives },
    validation: { f1: round(artifact.metrics.validation.f1), prAuc: round(artifact.metrics.validation.prAuc) },
    trainSeconds: round(trainSeconds, 2),
    finalFitSeconds: round(fitSeconds, 2),
    predictMicros: { p50: round(quantile(lat, 0.5), 1), p99: round(quantile(lat, 0.99), 1), rows: LATENCY_ROWS },
    batchRowsPerSecond: { withTop3: throughput(3), probabilityOnly: throughput(0), rows: BATCH },
    artifactBytes: JSON.stringify(artifact).length,
    params: artifact.params,
  };
  console.log(`${kind}: F1 ${result.test.f1} (P ${result.test.precision}, R ${result.test.recall}), PR-AUC ${result.test.prAuc}, confusion ${JSON.stringify(test.confusion)}; train ${result.trainSeconds} s (final fit ${result.finalFitSeconds} s); predict p50 ${result.predictMicros.p50} µs p99 ${result.predictMicros.p99} µs; batch ${result.batchRowsPerSecond.withTop3} rows/s (top 3), ${result.batchRowsPerSecond.probabilityOnly} rows/s (probability only)`);
  return result;
}

const models = [bench('logistic'), bench('gbt')];
const [baseline, trees] = models as [ReturnType<typeof bench>, ReturnType<typeof bench>];
const targets = { gbtF1AtLeast080: trees.test.f1 >= 0.8, gbtBeatsBaselineF1: trees.test.f1 > baseline.test.f1, gbtBeatsBaselinePrAuc: trees.test.prAuc > baseline.test.prAuc };
const result = {
  bench: 'ml',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version },
  data: { file: 'ai4i2020.csv', sha256: data.sha256, rows: data.rows.length, split: 'stratified 80/20', seed: SEED },
  models,
  targets,
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'ml.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`targets ${JSON.stringify(targets)}; results in bench/results/ml.json`);
