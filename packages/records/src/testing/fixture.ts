/**
 * A generated healthcare CSV with every quirk the reader and the cleaning must handle, and the
 * outcome they must reach — written down independently of the code under test: each valid row is
 * made clean first (the expectation) and then messed up into the text of the file.
 *
 * The file has a UTF-8 BOM; CRLF line ends with some bare LF; quoted fields (hospitals with commas,
 * doubled quotes, a line break inside; some fields quoted for no reason); random name casing, titles
 * and suffixes; surrounding and inner whitespace; hospitals with a stray leading "and " or trailing
 * "," / " and" / ", and"; negative billing amounts and a leading '+'; same-day stays; a blank
 * line; exact duplicate rows; and one invalid row of each kind (every column, a short and a long
 * row, one row with two problems). The last record may or may not end with a line break.
 */
import { mulberry32 } from '@strata/core';
import { BLOOD_TYPES, CSV_COLUMNS, type CleanRow, type RowFlag, type RowRejection } from '../types.js';

export interface HealthcareFixtureOptions {
  /** Same seed, same file. Default 1. */
  seed?: number;
  /** Distinct valid rows (duplicates and invalid rows come on top). Default 200. */
  rows?: number;
}

export interface HealthcareFixture {
  /** The file's text, BOM included. */
  csv: string;
  /** Data records in the file (valid, duplicate and invalid; not the header or blank lines). */
  rowsRead: number;
  /** Valid rows equal to an earlier valid row. */
  duplicates: number;
  /** Every expected rejection, in file order (two for the row with two problems). */
  rejected: Array<{ line: number; column: RowRejection['column'] }>;
  /** The distinct valid rows, in file order. */
  expected: CleanRow[];
}

const FIRST_NAMES = ['Leslie', 'Bobby', 'Mary-Ann', 'Jean-Luc', 'Natalie', 'Kevin', 'Aisha', 'Tyler', 'Eileen', 'José', 'Zoë', 'Li'];
const LAST_NAMES = ["O'Neil", 'Terry', 'Jackson', 'Mcdonald', "D'Angelo", 'Smith-Jones', 'Gamble', 'Nguyen', 'Müller', 'Vang', 'Cox'];
const TITLES = ['Dr.', 'Mr.', 'Mrs.', 'Ms.'];
const SUFFIXES = ['Jr.', 'MD', 'DDS', 'DVM', 'PhD', 'II', 'III', 'IV'];
const CONDITIONS = ['Cancer', 'Obesity', 'Diabetes', 'Asthma', 'Hypertension', 'Arthritis', 'High Blood Pressure'];
const INSURERS = ['Blue Cross', 'Medicare', 'Aetna', 'UnitedHealthcare', 'Cigna'];
const MEDICATIONS = ['Paracetamol', 'Ibuprofen', 'Aspirin', 'Penicillin', 'Lipitor'];
const GENDERS = ['Male', 'Female', 'Other'] as const;
const ADMISSION_TYPES = ['Urgent', 'Emergency', 'Elective'];
const TEST_RESULTS = ['Normal', 'Abnormal', 'Inconclusive'];
const HOSPITAL_WORDS = ['Sons', 'Group', 'PLC', 'Inc', 'LLC', 'Ltd'];

type Rng = () => number;


const pick = <T>(rng: Rng, values: readonly T[]): T => values[Math.floor(rng() * values.length)]!;
const int = (rng: Rng, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));
const chance = (rng: Rng, p: number): boolean => rng() < p;

function randomCase(rng: Rng, value: string): string {
  let out = '';
  for (const ch of value) out += chance(rng, 0.5) ? ch.toUpperCase() : ch.toLowerCase();
  return out;
}

/** Extra whitespace around and between words (what cleaning collapses). */
function messSpaces(rng: Rng, value: string): string {
  const inner = value.replace(/ /g, () => pick(rng, [' ', ' ', '  ', ' \t']));
  return `${pick(rng, ['', ' ', '  '])}${inner}${pick(rng, ['', ' ', '\t'])}`;
}

function personName(rng: Rng): string {
  const words = [pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)];
  if (chance(rng, 0.15)) words.unshift(pick(rng, TITLES));
  if (chance(rng, 0.15)) words.push(pick(rng, SUFFIXES));
  return words.join(' ');
}

function hospitalName(rng: Rng): string {
  const last = (): string => pick(rng, LAST_NAMES);
  switch (int(rng, 0, 5)) {
    case 0:
      return `${last()} and ${last()}`;
    case 1:
      return `${last()}, ${last()} and ${last()}`;
    case 2:
      return `${last()}-${last()}`;
    case 3:
      return `${last()} ${pick(rng, HOSPITAL_WORDS)}`;
    case 4:
      return `${last()} "North" Clinic`;
    default:
      return `Sons and ${last()}`;
  }
}

/** The hospital as the source spells it: Faker's stray "and "/","/" and", odd spacing, a line break. */
function messHospital(rng: Rng, clean: string): string {
  let raw = clean;
  if (chance(rng, 0.15)) raw = `and ${raw}`;
  const end = rng();
  if (end < 0.15) raw = `${raw},`;
  else if (end < 0.25) raw = `${raw} and`;
  else if (end < 0.3) raw = `${raw}, and`;
  if (chance(rng, 0.04)) raw = raw.replace(' ', pick(rng, ['\n', '\r\n']));
  if (chance(rng, 0.05)) raw = messSpaces(rng, raw);
  return raw;
}

function isoDay(epochDay: number): string {
  return new Date(epochDay * 86_400_000).toISOString().slice(0, 10);
}

/** A decimal with 0..15 fraction digits, exact as text. */
function billingAmount(rng: Rng, negative: boolean): string {
  const whole = negative ? int(rng, 1, 2500) : int(rng, 0, 52_000);
  const digits = int(rng, 0, 15);
  let fraction = '';
  for (let i = 0; i < digits; i++) fraction += String(int(rng, 0, 9));
  return `${negative ? '-' : ''}${whole}${digits > 0 ? `.${fraction}` : ''}`;
}

interface Row {
  clean: CleanRow;
  /** The 15 fields as written in the file. */
  raw: string[];
}

function validRow(rng: Rng): Row {
  const name = personName(rng);
  const rawName = chance(rng, 0.85) ? randomCase(rng, name) : name;
  const nameField = chance(rng, 0.2) ? messSpaces(rng, rawName) : rawName;
  const doctor = personName(rng);
  const hospital = hospitalName(rng);
  const hospitalField = messHospital(rng, hospital);
  const admittedDay = int(rng, 17_897, 19_850); // 2019-01-01 .. 2024-05-07
  const stay = chance(rng, 0.1) ? 0 : int(rng, 1, 30);
  const negative = chance(rng, 0.06);
  const billing = billingAmount(rng, negative);
  const age = chance(rng, 0.05) ? pick(rng, [0, 120]) : int(rng, 1, 119);
  const room = chance(rng, 0.05) ? pick(rng, [1, 99_999]) : int(rng, 101, 500);
  const clean: Omit<CleanRow, 'flags'> = {
    name,
    age,
    gender: pick(rng, GENDERS),
    bloodType: pick(rng, BLOOD_TYPES),
    condition: pick(rng, CONDITIONS),
    admitted: isoDay(admittedDay),
    discharged: isoDay(admittedDay + stay),
    doctor,
    hospital,
    insurer: pick(rng, INSURERS),
    billing,
    room,
    admissionType: pick(rng, ADMISSION_TYPES),
    medication: pick(rng, MEDICATIONS),
    testResult: pick(rng, TEST_RESULTS),
  };
  const spaced = (v: string): string => (chance(rng, 0.05) ? messSpaces(rng, v) : v);
  const cased = (v: string): string => (chance(rng, 0.2) ? randomCase(rng, v) : v);
  const raw = [
    nameField,
    spaced(String(age)),
    spaced(cased(clean.gender)),
    spaced(cased(clean.bloodType)),
    spaced(clean.condition),
    clean.admitted,
    spaced(chance(rng, 0.1) ? randomCase(rng, doctor) : doctor),
    hospitalField,
    spaced(clean.insurer),
    chance(rng, 0.05) ? ` ${billing} ` : !negative && chance(rng, 0.05) ? `+${billing}` : billing,
    spaced(String(room)),
    spaced(cased(clean.admissionType)),
    clean.discharged,
    spaced(clean.medication),
    spaced(cased(clean.testResult)),
  ];
  const flags: RowFlag[] = [];
  if (negative) flags.push('negative_billing');
  if (stay === 0) flags.push('zero_length_stay');
  if (nameField.trim().replace(/\s+/g, ' ') !== name) flags.push('name_recased');
  if (hospitalField !== hospital) flags.push('hospital_trimmed');
  return { clean: { ...clean, flags }, raw };
}

/** One invalid row per kind: which fields to spoil and the columns that must be named (null: the whole row). */
const SPOILERS: Array<{ spoil: (raw: string[], clean: CleanRow) => string[]; columns: RowRejection['column'][] }> = [
  ...(
    [
      ['Name', '   '],
      ['Age', 'thirty'],
      ['Age', '42.5'],
      ['Age', '-3'],
      ['Age', '121'],
      ['Gender', 'Unknown'],
      ['Blood Type', 'C+'],
      ['Medical Condition', ''],
      ['Date of Admission', '2023-02-29'],
      ['Date of Admission', '05/01/2023'],
      ['Doctor', ' '],
      ['Hospital', 'and ,'],
      ['Insurance Provider', '\t'],
      ['Billing Amount', '1,234.50'],
      ['Billing Amount', '1e5'],
      ['Billing Amount', '$100'],
      ['Billing Amount', '12.'],
      ['Room Number', '0'],
      ['Room Number', '100000'],
      ['Room Number', '12A'],
      ['Admission Type', 'Routine'],
      ['Discharge Date', '2024-13-01'],
      ['Medication', ''],
      ['Test Results', 'Positive'],
    ] as const
  ).map(([column, value]) => ({
    spoil: (raw: string[]) => raw.map((v, i) => (CSV_COLUMNS[i] === column ? value : v)),
    columns: [column],
  })),
  {
    // Discharged the day before admission.
    spoil: (raw, clean) => raw.map((v, i) => (i === 12 ? isoDay(Date.parse(clean.admitted) / 86_400_000 - 1) : v)),
    columns: ['Discharge Date'],
  },
  { spoil: (raw) => raw.slice(0, 14), columns: [null] },
  { spoil: (raw) => [...raw, 'extra'], columns: [null] },
  { spoil: (raw) => raw.map((v, i) => (i === 1 ? 'abc' : i === 2 ? 'x' : v)), columns: ['Age', 'Gender'] },
];

/** RFC 4180: quote a field holding a comma, quote or line break (and, now and then, one that doesn't). */
function csvField(rng: Rng, value: string): string {
  return /[",\r\n]/.test(value) || chance(rng, 0.03) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Line breaks inside a field's text (CRLF counts once). */
function lineBreaks(value: string): number {
  return value.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/** See the module comment. Deterministic for a seed. */
export function healthcareFixture(options: HealthcareFixtureOptions = {}): HealthcareFixture {
  const rng: Rng = mulberry32(options.seed ?? 1);
  const count = options.rows ?? 200;
  const parts: string[] = ['\uFEFF', CSV_COLUMNS.join(','), '\r\n'];
  let line = 2;
  let rowsRead = 0;
  let duplicates = 0;
  const rejected: HealthcareFixture['rejected'] = [];
  const expected: CleanRow[] = [];
  const seen = new Set<string>();
  const written: string[][] = [];

  const write = (fields: string[]): void => {
    parts.push(fields.map((f) => csvField(rng, f)).join(','), chance(rng, 0.1) ? '\n' : '\r\n');
    rowsRead++;
    line += 1 + fields.reduce((n, f) => n + lineBreaks(f), 0);
  };
  const fresh = (): Row => {
    for (;;) {
      const row = validRow(rng);
      const key = JSON.stringify(row.clean);
      if (!seen.has(key)) {
        seen.add(key);
        return row;
      }
    }
  };

  const spoilEvery = Math.max(1, Math.floor(count / SPOILERS.length));
  let spoiled = 0;
  for (let i = 0; i < count; i++) {
    const row = fresh();
    expected.push(row.clean);
    written.push(row.raw);
    write(row.raw);
    if (chance(rng, 0.05) || (i === count - 1 && duplicates === 0)) {
      write(pick(rng, written));
      duplicates++;
    }
    if (i === Math.floor(count / 2)) {
      parts.push('\r\n'); // a blank line: skipped, but it is a line
      line++;
    }
    while (spoiled < SPOILERS.length && (i % spoilEvery === spoilEvery - 1 || i === count - 1)) {
      const { spoil, columns } = SPOILERS[spoiled++]!;
      const { raw, clean } = validRow(rng);
      for (const column of columns) rejected.push({ line, column });
      write(spoil(raw, clean));
      if (i !== count - 1) break;
    }
  }
  if (chance(rng, 0.5)) parts.pop(); // no line break after the last record
  return { csv: parts.join(''), rowsRead, duplicates, rejected, expected };
}
