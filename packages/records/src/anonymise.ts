/**
 * The analysts' view of the records: k-anonymous admissions.
 *
 * - Direct identifiers are gone: no name, no patient or admission id (a row's `ref` is a keyed
 *   HMAC of its id, stable across pages but useless for linking), no doctor, hospital or room
 *   (tens of thousands of distinct hospitals in the source: each would single a patient out).
 * - Quasi-identifiers are coarsened: age → 10-year band, dates → year of admission and length of
 *   stay in days, billing → rounded to the nearest 1,000.
 * - Suppression: a row is released only when at least `k` patients share its quasi-identifiers
 *   (age band, gender, blood type, admission year). The view's k-anonymity level is therefore at
 *   least `k`; `anonymityReport` says the level actually reached and how many rows were withheld.
 */
import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import type { RecordKeys } from './keys.js';
import type { RecordsDb } from './schema.js';

export const QUASI_IDENTIFIERS = ['age_band', 'gender', 'blood_type', 'admitted_year'] as const;

export interface AnonymisedAdmission {
  ref: string;
  ageBand: string;
  gender: string;
  bloodType: string;
  admittedYear: number;
  lengthOfStayDays: number;
  condition: string;
  admissionType: string;
  insurer: string;
  medication: string;
  testResult: string;
  billingRounded: number;
}

export interface AnonymisedQuery {
  k: number;
  condition?: string;
  year?: number;
  offset: number;
  limit: number;
}

// group_size counts patients, not admissions: one person admitted k times must not make a group of k.
const groups = sql`
  with a as (
    select a.id, a.patient_id, (a.age / 10) * 10 as band, p.gender, p.blood_type, extract(year from a.admitted)::int as year,
           (a.discharged - a.admitted) as stay, a.condition, a.admission_type, a.insurer, a.medication, a.test_result,
           (round(a.billing / 1000) * 1000)::float8 as billing
    from admissions a join patients p on p.id = a.patient_id),
  g as (select band, gender, blood_type, year, count(distinct patient_id)::int as group_size from a group by band, gender, blood_type, year)
  select a.*, g.group_size from a join g using (band, gender, blood_type, year)`;

export async function anonymisedAdmissions(db: RecordsDb, keys: RecordKeys, q: AnonymisedQuery): Promise<{ items: AnonymisedAdmission[]; nextOffset: number | null }> {
  const rows = (
    await sql<{ id: string; band: number; gender: string; blood_type: string; year: number; stay: number; condition: string; admission_type: string; insurer: string; medication: string; test_result: string; billing: number }>`
      select * from (${groups}) g
      where group_size >= ${q.k}
        ${q.condition !== undefined ? sql`and condition = ${q.condition}` : sql``}
        ${q.year !== undefined ? sql`and year = ${q.year}` : sql``}
      order by id collate "C" offset ${q.offset} limit ${q.limit + 1}`.execute(db)
  ).rows;
  const refKey = createHmac('sha256', keys.index).update('anonymised-ref').digest();
  return {
    items: rows.slice(0, q.limit).map((r) => ({
      ref: createHmac('sha256', refKey).update(r.id).digest('hex').slice(0, 16),
      ageBand: `${r.band}-${Number(r.band) + 9}`,
      gender: r.gender,
      bloodType: r.blood_type,
      admittedYear: Number(r.year),
      lengthOfStayDays: Number(r.stay),
      condition: r.condition,
      admissionType: r.admission_type,
      insurer: r.insurer,
      medication: r.medication,
      testResult: r.test_result,
      billingRounded: Number(r.billing),
    })),
    nextOffset: rows.length > q.limit ? q.offset + q.limit : null,
  };
}

export interface AnonymityReport {
  kRequired: number;
  /** The fewest patients sharing the quasi-identifiers of a released row: the view is k-anonymous for this k (null when nothing is released). */
  kReached: number | null;
  released: number;
  suppressed: number;
  quasiIdentifiers: readonly string[];
}

export async function anonymityReport(db: RecordsDb, k: number): Promise<AnonymityReport> {
  const r = (
    await sql<{ released: number; suppressed: number; k_reached: number | null }>`
      select count(*) filter (where group_size >= ${k})::int as released, count(*) filter (where group_size < ${k})::int as suppressed,
             min(group_size) filter (where group_size >= ${k})::int as k_reached
      from (${groups}) g`.execute(db)
  ).rows[0]!;
  return { kRequired: k, kReached: r.k_reached, released: r.released, suppressed: r.suppressed, quasiIdentifiers: QUASI_IDENTIFIERS };
}
