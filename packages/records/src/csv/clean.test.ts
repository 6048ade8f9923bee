import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, type CleanRow, type RowRejection } from '../types.js';
import { cleanHospital, cleanRow, isIsoDate, normalisePersonName } from './clean.js';

type Column = (typeof CSV_COLUMNS)[number];

/** A row as the real file has it (line 2 of healthcare_dataset.csv). */
const GOOD: Record<Column, string> = {
  Name: 'Bobby Jackson',
  Age: '30',
  Gender: 'Male',
  'Blood Type': 'B-',
  'Medical Condition': 'Cancer',
  'Date of Admission': '2024-01-31',
  Doctor: 'Matthew Smith',
  Hospital: 'Sons and Miller',
  'Insurance Provider': 'Blue Cross',
  'Billing Amount': '18856.281305978155',
  'Room Number': '328',
  'Admission Type': 'Urgent',
  'Discharge Date': '2024-02-02',
  Medication: 'Paracetamol',
  'Test Results': 'Normal',
};

function fields(changes: Partial<Record<Column, string>> = {}): string[] {
  return CSV_COLUMNS.map((c) => changes[c] ?? GOOD[c]);
}

function clean(changes: Partial<Record<Column, string>> = {}): CleanRow {
  const result = cleanRow(fields(changes), 7);
  if (!('row' in result)) throw new Error(`rejected: ${JSON.stringify(result.rejections)}`);
  return result.row;
}

function rejections(changes: Partial<Record<Column, string>>): RowRejection[] {
  const result = cleanRow(fields(changes), 7);
  if (!('rejections' in result)) throw new Error(`accepted: ${JSON.stringify(result.row)}`);
  return result.rejections;
}

/** The one rejection for one bad value: its column and reason. */
function rejection(column: Column, value: string): string {
  const found = rejections({ [column]: value });
  expect(found).toHaveLength(1);
  expect(found[0]).toMatchObject({ line: 7, column });
  return found[0]!.reason;
}

describe('cleanRow', () => {
  it('turns a clean row of the real file into a CleanRow, billing kept as exact text', () => {
    expect(clean()).toEqual({
      name: 'Bobby Jackson',
      age: 30,
      gender: 'Male',
      bloodType: 'B-',
      condition: 'Cancer',
      admitted: '2024-01-31',
      discharged: '2024-02-02',
      doctor: 'Matthew Smith',
      hospital: 'Sons and Miller',
      insurer: 'Blue Cross',
      billing: '18856.281305978155',
      room: 328,
      admissionType: 'Urgent',
      medication: 'Paracetamol',
      testResult: 'Normal',
      flags: [],
    });
  });

  it('lists every problem of a row, each with its column and the line', () => {
    expect(rejections({ Name: ' ', Age: '200', 'Blood Type': 'Z', 'Room Number': '0' })).toEqual([
      { line: 7, column: 'Name', reason: 'empty' },
      { line: 7, column: 'Age', reason: 'impossible age' },
      { line: 7, column: 'Blood Type', reason: 'unknown blood type' },
      { line: 7, column: 'Room Number', reason: 'room number out of range 1..99999' },
    ]);
  });

  it('rejects a record with the wrong number of fields as a whole (column null)', () => {
    expect(cleanRow(fields().slice(0, 14), 9)).toEqual({ rejections: [{ line: 9, column: null, reason: 'expected 15 fields, found 14' }] });
    expect(cleanRow([...fields(), 'x'], 9)).toEqual({ rejections: [{ line: 9, column: null, reason: 'expected 15 fields, found 16' }] });
  });

  describe('Name', () => {
    it('recases the random casing of the source and flags it', () => {
      expect(clean({ Name: 'LesLie TErRy' })).toMatchObject({ name: 'Leslie Terry', flags: ['name_recased'] });
    });

    it('trims and collapses whitespace without flagging a recase', () => {
      expect(clean({ Name: '  Leslie \t  Terry ' })).toMatchObject({ name: 'Leslie Terry', flags: [] });
    });

    it('rejects an empty name', () => {
      expect(rejection('Name', ' \t ')).toBe('empty');
    });
  });

  describe('normalisePersonName', () => {
    it.each([
      ["o'neil", "O'Neil"],
      ['mary-ann SMITH-JONES', 'Mary-Ann Smith-Jones'],
      ['dR. eilEEn thomPsoN', 'Dr. Eileen Thompson'],
      ['mR. DAVID pIERce Md', 'Mr. David Pierce MD'],
      ['MR. TYler TAYLOR Phd', 'Mr. Tyler Taylor PhD'],
      ['taylor howell dds', 'Taylor Howell DDS'],
      ['jane doe dvm', 'Jane Doe DVM'],
      ['kEVIn SiMmoNs jR.', 'Kevin Simmons Jr.'],
      ['james brown iI', 'James Brown II'],
      ['james brown iii', 'James Brown III'],
      ['james brown iv', 'James Brown IV'],
      ['MCDONALD', 'Mcdonald'],
      ['JOSÉ MÜLLER', 'José Müller'],
    ])('%s → %s', (raw, expected) => {
      expect(normalisePersonName(raw)).toBe(expected);
    });

    it('treats a suffix-like first word as a name', () => {
      expect(normalisePersonName('IV smith')).toBe('Iv Smith');
    });
  });

  describe('Age', () => {
    it('accepts 0..120, spaces around', () => {
      expect(clean({ Age: '0' }).age).toBe(0);
      expect(clean({ Age: ' 120 ' }).age).toBe(120);
    });

    it.each([
      ['121', 'impossible age'],
      ['-1', 'impossible age'],
      ['42.5', 'age is not an integer'],
      ['thirty', 'age is not an integer'],
      ['', 'empty'],
    ])('rejects %j: %s', (value, reason) => {
      expect(rejection('Age', value)).toBe(reason);
    });
  });

  it('Gender: Male/Female/Other in any case, else rejected', () => {
    expect(clean({ Gender: ' fEMALE ' }).gender).toBe('Female');
    expect(clean({ Gender: 'other' }).gender).toBe('Other');
    expect(rejection('Gender', 'M')).toBe('unknown gender');
  });

  it('Blood Type: the eight types in any case, else rejected', () => {
    expect(clean({ 'Blood Type': ' ab+ ' }).bloodType).toBe('AB+');
    expect(rejection('Blood Type', 'C+')).toBe('unknown blood type');
    expect(rejection('Blood Type', 'AB')).toBe('unknown blood type');
  });

  it('Admission Type and Test Results: their values in any case, else rejected', () => {
    expect(clean({ 'Admission Type': 'EMERGENCY', 'Test Results': 'inconclusive' })).toMatchObject({ admissionType: 'Emergency', testResult: 'Inconclusive' });
    expect(rejection('Admission Type', 'Routine')).toBe('unknown admission type');
    expect(rejection('Test Results', 'Positive')).toBe('unknown test result');
  });

  it('free-text columns: trimmed, collapsed, never empty; the doctor recased without a flag', () => {
    const row = clean({ 'Medical Condition': ' High \t Blood  Pressure ', 'Insurance Provider': ' Blue  Cross', Medication: 'Lipitor ', Doctor: 'mATTHEW  smith md' });
    expect(row).toMatchObject({ condition: 'High Blood Pressure', insurer: 'Blue Cross', medication: 'Lipitor', doctor: 'Matthew Smith MD', flags: [] });
    for (const column of ['Medical Condition', 'Doctor', 'Insurance Provider', 'Medication'] as const) {
      expect(rejection(column, '  ')).toBe('empty');
    }
  });

  describe('Hospital', () => {
    it.each([
      ['and Johnson, Smith', 'Johnson, Smith'],
      ['Sons and Miller,', 'Sons and Miller'],
      ['Sons Rich and', 'Sons Rich'],
      ['Nelson Walker Myers, and', 'Nelson Walker Myers'],
      ['and Garcia Morris Cunningham,', 'Garcia Morris Cunningham'],
      ['  Powers Miller,  and Flores ', 'Powers Miller, and Flores'],
      ['Sons\r\nand Cox', 'Sons and Cox'],
    ])('%j → %j, flagged', (raw, expected) => {
      expect(clean({ Hospital: raw })).toMatchObject({ hospital: expected, flags: ['hospital_trimmed'] });
    });

    it('keeps an "and" inside the name, and names like Anderson, unflagged', () => {
      expect(clean({ Hospital: 'Powers Miller, and Flores' })).toMatchObject({ hospital: 'Powers Miller, and Flores', flags: [] });
      expect(cleanHospital('Anderson Brandon')).toBe('Anderson Brandon');
    });

    it('rejects a hospital that is nothing but leftovers', () => {
      expect(rejection('Hospital', 'and ,')).toBe('empty');
      expect(rejection('Hospital', '')).toBe('empty');
    });
  });

  describe('dates', () => {
    it('rejects what is not a real YYYY-MM-DD day', () => {
      expect(rejection('Date of Admission', '2023-02-29')).toBe('not a YYYY-MM-DD date');
      expect(rejection('Date of Admission', '05/01/2023')).toBe('not a YYYY-MM-DD date');
      expect(rejection('Discharge Date', '2024-13-01')).toBe('not a YYYY-MM-DD date');
      expect(isIsoDate('2024-02-29')).toBe(true);
      expect(isIsoDate('2100-02-29')).toBe(false);
      expect(isIsoDate('2000-02-29')).toBe(true);
      expect(isIsoDate('2024-04-31')).toBe(false);
    });

    it('rejects a discharge before the admission', () => {
      expect(rejection('Discharge Date', '2024-01-30')).toBe('discharge before admission');
    });

    it('keeps a same-day stay, flagged', () => {
      expect(clean({ 'Discharge Date': '2024-01-31' })).toMatchObject({ discharged: '2024-01-31', flags: ['zero_length_stay'] });
    });
  });

  describe('Billing Amount', () => {
    it('keeps the decimal text exactly, beyond float precision, trailing zeros included', () => {
      expect(clean({ 'Billing Amount': '18856.28130597815512345678' }).billing).toBe('18856.28130597815512345678');
      expect(clean({ 'Billing Amount': '100.50' }).billing).toBe('100.50');
      expect(clean({ 'Billing Amount': ' +7419 ' }).billing).toBe('7419');
    });

    it('keeps a negative amount, flagged', () => {
      expect(clean({ 'Billing Amount': '-502.5' })).toMatchObject({ billing: '-502.5', flags: ['negative_billing'] });
      expect(clean({ 'Billing Amount': '-0.00' }).flags).toEqual([]);
    });

    it.each(['1,234.50', '1e5', '$100', '12.', '.5', 'NaN', '--1'])('rejects %j', (value) => {
      expect(rejection('Billing Amount', value)).toBe('not a decimal number');
    });
  });

  it('Room Number: integer 1..99999', () => {
    expect(clean({ 'Room Number': '99999' }).room).toBe(99_999);
    expect(clean({ 'Room Number': '1' }).room).toBe(1);
    expect(rejection('Room Number', '0')).toBe('room number out of range 1..99999');
    expect(rejection('Room Number', '100000')).toBe('room number out of range 1..99999');
    expect(rejection('Room Number', '12A')).toBe('room number is not an integer');
  });

  it('lists several flags in RowFlag order', () => {
    const row = clean({ Name: 'bobby jackson', Hospital: 'and Sons and Miller,', 'Billing Amount': '-1', 'Discharge Date': '2024-01-31' });
    expect(row.flags).toEqual(['negative_billing', 'zero_length_stay', 'name_recased', 'hospital_trimmed']);
  });
});
