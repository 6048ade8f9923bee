/**
 * Cleaning of one healthcare CSV record into a `CleanRow`, or the list of everything wrong with it.
 *
 * Never throws on bad data: a bad row comes back as rejections (column + short reason), so an
 * import counts and reports it and goes on. Reasons never quote the value (it may be a patient's
 * name), so they are bounded and safe to log.
 *
 * Rules, per column:
 * - Name, Doctor: trimmed, inner whitespace collapsed, recased word by word ("LesLie TErRy" →
 *   "Leslie Terry"); hyphens and apostrophes start a new capital ("o'neil" → "O'Neil",
 *   "mary-ann" → "Mary-Ann"). Name suffixes after the first word keep their canonical case:
 *   MD, DDS, DVM, PhD, II, III, IV. Titles ("Dr.", "Mrs.", "Jr.") come out title-cased by the
 *   same rule. "Mc"/"Mac" names are not special-cased: "MCDONALD" → "Mcdonald" (the source has
 *   no such distinction to recover, and guessing "MacK" vs "Mack" is worse). Flag
 *   `name_recased` when the patient's name changed other than in whitespace (the doctor's name
 *   is recased the same way without a flag: the flag describes the patient).
 * - Age: integer 0..120. Gender: Male/Female/Other. Blood Type: BLOOD_TYPES. Admission Type:
 *   Urgent/Emergency/Elective. Test Results: Normal/Abnormal/Inconclusive. All case-insensitive,
 *   trimmed, given back in canonical case.
 * - Medical Condition, Insurance Provider, Medication: trimmed, whitespace collapsed, non-empty.
 * - Hospital: trimmed and collapsed; the source's Faker leftovers are stripped, repeatedly: a
 *   leading "and ", trailing commas and a trailing " and" ("and Mason Smith Chase," → "Mason
 *   Smith Chase", "Nelson Walker Myers, and" → "Nelson Walker Myers"). Flag `hospital_trimmed`
 *   when the value differs from the field as read.
 * - Dates: `YYYY-MM-DD`, a real calendar date; a discharge before the admission is refused, on
 *   the same day it is kept and flagged `zero_length_stay`.
 * - Billing Amount: decimal text `-?digits[.digits]` kept exactly as written (never a float);
 *   only surrounding spaces and a leading '+' are dropped. Below zero: kept, flagged
 *   `negative_billing`.
 * - Room Number: integer 1..99999.
 * A record without exactly 15 fields is refused as a whole (column null).
 */
import { BLOOD_TYPES, CSV_COLUMNS, type BloodType, type CleanRow, type RowFlag, type RowRejection } from '../types.js';

export type CleanResult = { row: CleanRow } | { rejections: RowRejection[] };

const GENDERS: ReadonlyMap<string, CleanRow['gender']> = canonical(['Male', 'Female', 'Other']);
const BLOOD: ReadonlyMap<string, BloodType> = canonical(BLOOD_TYPES);
const ADMISSION_TYPES: ReadonlyMap<string, string> = canonical(['Urgent', 'Emergency', 'Elective']);
const TEST_RESULTS: ReadonlyMap<string, string> = canonical(['Normal', 'Abnormal', 'Inconclusive']);

/** Name suffixes whose case is not title case. */
const SUFFIXES: ReadonlyMap<string, string> = canonical(['MD', 'DDS', 'DVM', 'PhD', 'II', 'III', 'IV']);

function canonical<T extends string>(values: readonly T[]): ReadonlyMap<string, T> {
  return new Map(values.map((v) => [v.toLowerCase(), v]));
}

const WHITESPACE_RUN = /\s+/g;
/** Whitespace other than single spaces: the collapse has something to do. */
const NEEDS_COLLAPSE = /\s\s|[^\S ]/;

/** Trims and turns every run of whitespace (tabs, line breaks) into one space. */
export function collapseWhitespace(value: string): string {
  const trimmed = value.trim();
  return NEEDS_COLLAPSE.test(trimmed) ? trimmed.replace(WHITESPACE_RUN, ' ') : trimmed;
}

/** A person's name in canonical case (see the module comment); `value` already collapsed. */
export function normalisePersonName(value: string): string {
  const words = value.split(' ');
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const suffix = i > 0 ? SUFFIXES.get(word.toLowerCase()) : undefined;
    words[i] = suffix ?? titleCaseWord(word);
  }
  return words.join(' ');
}

/** "o'NEIL-smith" → "O'Neil-Smith": a capital at the start and after each hyphen or apostrophe. */
function titleCaseWord(word: string): string {
  const lower = word.toLowerCase();
  if (!WORD_BREAK.test(lower)) return lower.charAt(0).toUpperCase() + lower.slice(1);
  return lower.replace(WORD_START, (ch) => ch.toUpperCase());
}

const WORD_BREAK = /[-'\u2019]/;
/** The first character of a word and each one after a hyphen or apostrophe. */
const WORD_START = /(?:^|(?<=[-'\u2019]))[^-'\u2019]/g;

const LEADING_AND = /^and(?:\s+|$)/i;
const TRAILING_JUNK = /(?:\s*,|\s+and)$/i;

/** The hospital name without the source's stray "and " prefix and trailing commas / " and". */
export function cleanHospital(value: string): string {
  let out = collapseWhitespace(value);
  for (;;) {
    const next = out.replace(LEADING_AND, '').replace(TRAILING_JUNK, '').trim();
    if (next === out) return out;
    out = next;
  }
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** True for an ISO `YYYY-MM-DD` string naming a real day of the Gregorian calendar. */
export function isIsoDate(value: string): boolean {
  const m = ISO_DATE.exec(value);
  if (m === null) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return day <= (month === 2 ? (leap ? 29 : 28) : DAYS_IN_MONTH[month - 1]!);
}

const DECIMAL = /^-?\d+(?:\.\d+)?$/;
const UNSIGNED_INT = /^\d+$/;

/** Trimmed and collapsed text; rejected when empty. */
function text(fields: readonly string[], i: number, line: number, rejections: RowRejection[]): string {
  const v = collapseWhitespace(fields[i]!);
  if (v === '') rejections.push({ line, column: CSV_COLUMNS[i]!, reason: 'empty' });
  return v;
}

/** The canonical spelling of one of `values` (case-insensitive, trimmed); rejected when none. */
function oneOf<T>(fields: readonly string[], i: number, line: number, rejections: RowRejection[], values: ReadonlyMap<string, T>, what: string): T | undefined {
  const raw = fields[i]!.trim();
  const v = values.get(raw.toLowerCase());
  if (v === undefined) rejections.push({ line, column: CSV_COLUMNS[i]!, reason: raw === '' ? 'empty' : `unknown ${what}` });
  return v;
}

// Column positions in CSV_COLUMNS (clean.test.ts maps a whole row, so a wrong one fails there).
const NAME = 0;
const AGE = 1;
const GENDER = 2;
const BLOOD_TYPE = 3;
const CONDITION = 4;
const ADMITTED = 5;
const DOCTOR = 6;
const HOSPITAL = 7;
const INSURER = 8;
const BILLING = 9;
const ROOM = 10;
const ADMISSION_TYPE = 11;
const DISCHARGED = 12;
const MEDICATION = 13;
const TEST_RESULT = 14;

/**
 * Cleans one record (`fields` as read, `line` where it starts in the file) by the rules of the
 * module comment: a `CleanRow` when every column is acceptable, else every problem found.
 */
export function cleanRow(fields: readonly string[], line: number): CleanResult {
  if (fields.length !== CSV_COLUMNS.length) {
    return { rejections: [{ line, column: null, reason: `expected ${CSV_COLUMNS.length} fields, found ${fields.length}` }] };
  }
  const rejections: RowRejection[] = [];
  const flags: RowFlag[] = [];

  const nameRaw = collapseWhitespace(fields[NAME]!);
  const name = normalisePersonName(nameRaw);
  if (name === '') rejections.push({ line, column: 'Name', reason: 'empty' });

  const ageRaw = fields[AGE]!.trim();
  const age = UNSIGNED_INT.test(ageRaw) ? Number(ageRaw) : Number.NaN;
  if (age > 120 || /^-\d+$/.test(ageRaw)) rejections.push({ line, column: 'Age', reason: 'impossible age' });
  else if (Number.isNaN(age)) rejections.push({ line, column: 'Age', reason: ageRaw === '' ? 'empty' : 'age is not an integer' });

  const gender = oneOf(fields, GENDER, line, rejections, GENDERS, 'gender');
  const bloodType = oneOf(fields, BLOOD_TYPE, line, rejections, BLOOD, 'blood type');
  const condition = text(fields, CONDITION, line, rejections);

  const admitted = fields[ADMITTED]!.trim();
  const admittedOk = isIsoDate(admitted);
  if (!admittedOk) rejections.push({ line, column: 'Date of Admission', reason: admitted === '' ? 'empty' : 'not a YYYY-MM-DD date' });

  const doctor = normalisePersonName(text(fields, DOCTOR, line, rejections));

  const hospitalRaw = fields[HOSPITAL]!;
  const hospital = cleanHospital(hospitalRaw);
  if (hospital === '') rejections.push({ line, column: 'Hospital', reason: 'empty' });
  else if (hospital !== hospitalRaw) flags.push('hospital_trimmed');

  const insurer = text(fields, INSURER, line, rejections);

  let billing = fields[BILLING]!.trim();
  if (billing.startsWith('+')) billing = billing.slice(1);
  if (!DECIMAL.test(billing)) rejections.push({ line, column: 'Billing Amount', reason: billing === '' ? 'empty' : 'not a decimal number' });
  else if (billing.startsWith('-') && /[1-9]/.test(billing)) flags.push('negative_billing');

  const roomRaw = fields[ROOM]!.trim();
  const room = UNSIGNED_INT.test(roomRaw) ? Number(roomRaw) : Number.NaN;
  if (Number.isNaN(room)) rejections.push({ line, column: 'Room Number', reason: roomRaw === '' ? 'empty' : 'room number is not an integer' });
  else if (room < 1 || room > 99_999) rejections.push({ line, column: 'Room Number', reason: 'room number out of range 1..99999' });

  const admissionType = oneOf(fields, ADMISSION_TYPE, line, rejections, ADMISSION_TYPES, 'admission type');

  const discharged = fields[DISCHARGED]!.trim();
  if (!isIsoDate(discharged)) rejections.push({ line, column: 'Discharge Date', reason: discharged === '' ? 'empty' : 'not a YYYY-MM-DD date' });
  else if (admittedOk && discharged < admitted) rejections.push({ line, column: 'Discharge Date', reason: 'discharge before admission' });
  else if (discharged === admitted) flags.push('zero_length_stay');

  const medication = text(fields, MEDICATION, line, rejections);
  const testResult = oneOf(fields, TEST_RESULT, line, rejections, TEST_RESULTS, 'test result');

  if (rejections.length > 0) return { rejections };
  if (name !== nameRaw) flags.push('name_recased');
  return {
    row: {
      name,
      age,
      gender: gender!,
      bloodType: bloodType!,
      condition,
      admitted,
      discharged,
      doctor,
      hospital,
      insurer,
      billing,
      room,
      admissionType: admissionType!,
      medication,
      testResult: testResult!,
      flags: sortFlags(flags),
    },
  };
}

/** The order of RowFlag's declaration. */
export const FLAG_ORDER: readonly RowFlag[] = ['negative_billing', 'zero_length_stay', 'name_recased', 'hospital_trimmed'];

/** Flags in one fixed order (FLAG_ORDER), so equal rows serialise equally. */
function sortFlags(flags: RowFlag[]): RowFlag[] {
  return FLAG_ORDER.filter((f) => flags.includes(f));
}
