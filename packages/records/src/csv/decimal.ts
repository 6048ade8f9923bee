/**
 * Exact decimal arithmetic on decimal text (`-?digits[.digits]`, as `cleanRow` keeps billing
 * amounts): BigInt underneath, never a float, so a sum of 55,500 amounts with 12+ decimals is
 * exact. Results are canonical: no leading zeros, no trailing zeros after the point, no point
 * without a fraction, never "-0".
 */

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

interface Scaled {
  /** The value times 10^scale. */
  units: bigint;
  /** Digits after the point. */
  scale: number;
}

function parse(value: string): Scaled {
  const m = DECIMAL.exec(value.trim());
  if (m === null) throw new RangeError(`not a decimal number: ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`);
  const fraction = m[3] ?? '';
  const units = BigInt(m[2]! + fraction);
  return { units: m[1] === '-' ? -units : units, scale: fraction.length };
}

function format({ units, scale }: Scaled): string {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    const point = digits.length - scale;
    const fraction = digits.slice(point).replace(/0+$/, '');
    digits = fraction === '' ? digits.slice(0, point) : `${digits.slice(0, point)}.${fraction}`;
  }
  return negative ? `-${digits}` : digits;
}

function rescale(value: Scaled, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

/** The exact sum of decimal strings, canonical ("0" for none). Throws RangeError for a value that is not decimal text. */
export function sumDecimals(values: Iterable<string>): string {
  // One running sum per scale (amounts mostly share a few scales), combined once at the end:
  // no rescaling of the big total for every value.
  const byScale = new Map<number, bigint>();
  for (const value of values) {
    const { units, scale } = parse(value);
    byScale.set(scale, (byScale.get(scale) ?? 0n) + units);
  }
  const scale = Math.max(0, ...byScale.keys());
  let units = 0n;
  for (const [s, sum] of byScale) units += sum * 10n ** BigInt(scale - s);
  return format({ units, scale });
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b` (numerically: "1.50" equals "1.5"). */
export function compareDecimals(a: string, b: string): -1 | 0 | 1 {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  const d = rescale(x, scale) - rescale(y, scale);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** The canonical text of a decimal: "+007.50" → "7.5", "-0.0" → "0". */
export function canonicalDecimal(value: string): string {
  return format(parse(value));
}
