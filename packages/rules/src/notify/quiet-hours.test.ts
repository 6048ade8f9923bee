import { expect, it } from 'vitest';
import { quietHoursEnd } from './quiet-hours.js';

const at = (hhmm: string, day = '2030-01-01'): number => Date.parse(`${day}T${hhmm}:00Z`);

it.each([
  // [from, to, now, end of quiet hours or undefined]
  ['22:00', '06:00', at('23:30'), at('06:00', '2030-01-02')],
  ['22:00', '06:00', at('02:00'), at('06:00')],
  ['22:00', '06:00', at('22:00'), at('06:00', '2030-01-02')],
  ['22:00', '06:00', at('06:00'), undefined],
  ['22:00', '06:00', at('12:00'), undefined],
  ['09:00', '17:00', at('09:00'), at('17:00')],
  ['09:00', '17:00', at('16:59'), at('17:00')],
  ['09:00', '17:00', at('17:00'), undefined],
  ['09:00', '17:00', at('08:59'), undefined],
  ['08:00', '08:00', at('08:00'), undefined],
])('quiet %s–%s at %d ends at %s', (from, to, now, end) => {
  expect(quietHoursEnd({ from, to }, now)).toBe(end);
});

it('has no quiet hours when none are set', () => {
  expect(quietHoursEnd(undefined, at('23:00'))).toBeUndefined();
});
