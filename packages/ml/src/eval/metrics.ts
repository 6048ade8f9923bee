/** Metrics of the failure (positive) class. */
export interface Confusion {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
}

export interface ClassMetrics {
  readonly rows: number;
  readonly positives: number;
  /** Scores at or above it are predicted failures. */
  readonly threshold: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Average precision: the area under the precision–recall curve, step-wise (as scikit-learn). */
  readonly prAuc: number;
  readonly confusion: Confusion;
}

export function confusion(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): Confusion {
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = scores[i]! >= threshold;
    if (labels[i] === 1) predicted ? tp++ : fn++;
    else predicted ? fp++ : tn++;
  }
  return { tp, fp, fn, tn };
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);

export function precisionRecallF1(c: Confusion): { precision: number; recall: number; f1: number } {
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return { precision, recall, f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn) };
}

/** Distinct scores from the highest, with the positives and negatives at each. */
function scoreSteps(labels: ArrayLike<number>, scores: ArrayLike<number>): { score: number; pos: number; neg: number }[] {
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const steps: { score: number; pos: number; neg: number }[] = [];
  for (const i of order) {
    const last = steps[steps.length - 1];
    const step = last && last.score === scores[i] ? last : (steps.push({ score: scores[i]!, pos: 0, neg: 0 }), steps[steps.length - 1]!);
    if (labels[i] === 1) step.pos++;
    else step.neg++;
  }
  return steps;
}

/** Average precision Σ (Rₙ − Rₙ₋₁) · Pₙ over the distinct score thresholds; 0 without positives. */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) positives++;
  if (positives === 0) return 0;
  let tp = 0, fp = 0, ap = 0;
  for (const s of scoreSteps(labels, scores)) {
    tp += s.pos;
    fp += s.neg;
    ap += (s.pos / positives) * (tp / (tp + fp));
  }
  return ap;
}

/**
 * The threshold with the best F1 on these scores: midway between the chosen distinct score and
 * the next lower one (so it does not sit on a training score). Ties keep the higher threshold.
 */
export function bestF1Threshold(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) positives++;
  const steps = scoreSteps(labels, scores);
  let tp = 0, fp = 0, best = -1, at = 0.5;
  steps.forEach((s, k) => {
    tp += s.pos;
    fp += s.neg;
    const f1 = ratio(2 * tp, tp + fp + positives);
    if (f1 > best) {
      best = f1;
      const next = steps[k + 1];
      at = next ? (s.score + next.score) / 2 : s.score;
    }
  });
  return at;
}

export function classMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): ClassMetrics {
  const c = confusion(labels, scores, threshold);
  return { rows: labels.length, positives: c.tp + c.fn, threshold, ...precisionRecallF1(c), prAuc: averagePrecision(labels, scores), confusion: c };
}
