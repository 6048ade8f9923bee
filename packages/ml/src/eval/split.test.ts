import { expect, it } from 'vitest';
import { timeFolds, timeFoldTraining, timeSplit } from './split.js';

const HOUR = 3_600_000;
// 3 machines × 40 hours, rows in scrambled order, times repeating across machines.
const times = Array.from({ length: 120 }, (_, i) => Date.UTC(2020, 0, 1) + ((i * 37) % 40) * HOUR);

it('time split: the latest share by time is the test set; no test row is earlier than any training row', () => {
  const { train, test, testFrom } = timeSplit(times, 0.2);
  expect(train.length + test.length).toBe(times.length);
  expect(test.length).toBe(24);
  const lastTrain = Math.max(...train.map((i) => times[i]!));
  const firstTest = Math.min(...test.map((i) => times[i]!));
  expect(firstTest).toBeGreaterThan(lastTrain);
  expect(testFrom).toBe(firstTest);
  expect(train).toEqual([...train].sort((a, b) => a - b));
});

it('time split keeps rows sharing a time together (ties go to the test set)', () => {
  const { train, test } = timeSplit(times, 0.21); // 25 rows would cut through a time's 3 rows
  expect(test.length).toBe(27);
  expect(Math.min(...test.map((i) => times[i]!))).toBeGreaterThan(Math.max(...train.map((i) => times[i]!)));
  expect(timeSplit(times, 0)).toMatchObject({ test: [], testFrom: null });
});

it('time folds chain forward: each block is later than every block before it', () => {
  const block = timeFolds(times, 4);
  expect(new Set(block)).toEqual(new Set([0, 1, 2, 3, 4]));
  for (let b = 1; b <= 4; b++) {
    const earlier = times.filter((_, i) => block[i]! < b);
    const here = times.filter((_, i) => block[i] === b);
    expect(Math.min(...here)).toBeGreaterThan(Math.max(...earlier));
    expect(here.length).toBeGreaterThanOrEqual(21);
  }
});

it('time split with a label horizon purges training rows whose label window reaches past testFrom', () => {
  const plain = timeSplit(times, 0.2);
  const gap = timeSplit(times, 0.2, 2 * HOUR);
  expect(gap.test).toEqual(plain.test);
  expect(gap.testFrom).toBe(plain.testFrom);
  // Hours 30 and 31 (3 machines each) have t + 2 h > testFrom (hour 32); hour 30 + 2 h = testFrom stays.
  expect(gap.purged).toBe(3);
  expect(gap.train).toEqual(plain.train.filter((i) => times[i]! + 2 * HOUR <= plain.testFrom!));
  expect(plain.purged).toBe(0);
});

it('time folds with a label horizon: each fold trains on earlier blocks less the rows labelled by the block it scores', () => {
  const block = timeFolds(times, 4);
  for (let j = 1; j <= 4; j++) {
    const from = Math.min(...times.filter((_, i) => block[i] === j));
    const earlier = times.flatMap((_, i) => (block[i]! < j ? [i] : []));
    expect(timeFoldTraining(times, block, j)).toEqual(earlier);
    const purged = timeFoldTraining(times, block, j, 3 * HOUR);
    expect(purged).toEqual(earlier.filter((i) => times[i]! + 3 * HOUR <= from));
    expect(earlier.length - purged.length).toBe(3 * 2); // the 2 hours before the block, 3 machines each
  }
});
