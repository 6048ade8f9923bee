/**
 * Test support (`@strata/ml/testing`): a small generated data set in the AI4I 2020 CSV format.
 * Failures follow the data set's own simulated causes: power out of range, a low process–air
 * temperature difference at low speed, high tool-wear × torque strain.
 */

export const AI4I_HEADER = 'UDI,Product ID,Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min],Machine failure,TWF,HDF,PWF,OSF,RNF';

/** `rows` rows of AI4I-format CSV (header included), the same text for the same seed. */
export function ai4iCsv(rows: number, seed = 3): string {
  let s = seed;
  const r = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const lines = [AI4I_HEADER];
  for (let i = 0; i < rows; i++) {
    const air = Math.round((296 + 8 * r()) * 10) / 10;
    const proc = Math.round((air + 8 + 4 * r()) * 10) / 10;
    const rpm = Math.round(1200 + 900 * r());
    const torque = Math.round((60 - (rpm - 1200) / 30 + 12 * r()) * 10) / 10;
    const wear = Math.round(240 * r());
    const power = (torque * rpm * 2 * Math.PI) / 60;
    const fail = power < 3500 || power > 9000 || (proc - air < 8.6 && rpm < 1380) || wear * torque > 11000 ? 1 : 0;
    lines.push(`${i + 1},X${i},${'LMH'[i % 3]},${air},${proc},${rpm},${torque},${wear},${fail},0,0,0,0,0`);
  }
  return lines.join('\n') + '\n';
}
