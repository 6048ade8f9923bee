import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalDecimal, compareDecimals, sumDecimals } from './decimal.js';

/** A decimal as BigInt units and a scale, and a way of writing it (leading/trailing zeros, sign). */
const decimal = fc
  .record({
    units: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
    scale: fc.nat(18),
    extraZeros: fc.nat(3),
    leadingZeros: fc.nat(2),
    plus: fc.boolean(),
  })
  .map(({ units, scale, extraZeros, leadingZeros, plus }) => ({ units, scale, text: write(units, scale, extraZeros, leadingZeros, plus) }));

/** Writes units / 10^scale by string padding (independent of the code under test). */
function write(units: bigint, scale: number, extraZeros = 0, leadingZeros = 0, plus = false): string {
  const digits = (units < 0n ? -units : units).toString().padStart(scale + 1, '0');
  const whole = '0'.repeat(leadingZeros) + digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale) + '0'.repeat(scale > 0 ? extraZeros : 0);
  const sign = units < 0n ? '-' : plus ? '+' : '';
  return fraction === '' ? `${sign}${whole}` : `${sign}${whole}.${fraction}`;
}

/** The value of canonical text `s` times 10^scale, read by string padding. */
function unitsAt(s: string, scale: number): bigint {
  const negative = s.startsWith('-');
  const [whole, fraction = ''] = (negative ? s.slice(1) : s).split('.');
  expect(fraction.length).toBeLessThanOrEqual(scale);
  const units = BigInt(whole! + fraction.padEnd(scale, '0'));
  return negative ? -units : units;
}

const CANONICAL = /^(?:0|-?[1-9]\d*(?:\.\d*[1-9])?|-?0\.\d*[1-9])$/;

describe('sumDecimals', () => {
  it('equals the BigInt sum of the values, in canonical form', () => {
    fc.assert(
      fc.property(fc.array(decimal, { maxLength: 30 }), (values) => {
        const scale = Math.max(0, ...values.map((v) => v.scale));
        const reference = values.reduce((sum, v) => sum + v.units * 10n ** BigInt(scale - v.scale), 0n);
        const sum = sumDecimals(values.map((v) => v.text));
        expect(sum).toMatch(CANONICAL);
        expect(unitsAt(sum, scale)).toBe(reference);
      }),
      { numRuns: 500 },
    );
  });

  it('is exact where floats are not', () => {
    expect(sumDecimals(['0.1', '0.2'])).toBe('0.3');
    expect(sumDecimals(['18856.281305978155', '33643.327286577885', '-502.5'])).toBe('51997.10859255604');
    expect(sumDecimals(Array.from({ length: 10 }, () => '0.1'))).toBe('1');
  });

  it('gives "0" for nothing and for a sum of zero, never "-0"', () => {
    expect(sumDecimals([])).toBe('0');
    expect(sumDecimals(['-1.50', '1.5'])).toBe('0');
    expect(sumDecimals(['-0.000'])).toBe('0');
  });

  it('refuses text that is not a decimal', () => {
    expect(() => sumDecimals(['1', '1e5'])).toThrow(RangeError);
    expect(() => sumDecimals(['12.'])).toThrow(/not a decimal number: "12."/);
  });
});

describe('compareDecimals', () => {
  it('orders as the BigInt values do', () => {
    fc.assert(
      fc.property(decimal, decimal, (a, b) => {
        const scale = Math.max(a.scale, b.scale);
        const d = a.units * 10n ** BigInt(scale - a.scale) - b.units * 10n ** BigInt(scale - b.scale);
        expect(compareDecimals(a.text, b.text)).toBe(d < 0n ? -1 : d > 0n ? 1 : 0);
      }),
      { numRuns: 500 },
    );
  });

  it('sees equal values written differently as equal', () => {
    expect(compareDecimals('1.50', '+001.5')).toBe(0);
    expect(compareDecimals('-2008.49', '-100.6')).toBe(-1);
  });
});

describe('canonicalDecimal', () => {
  it('drops signs, leading and trailing zeros that do not change the value', () => {
    expect(canonicalDecimal('+007.50')).toBe('7.5');
    expect(canonicalDecimal('-0.0')).toBe('0');
    expect(canonicalDecimal('-0.0500')).toBe('-0.05');
    expect(canonicalDecimal('120.000')).toBe('120');
  });
});
