/** The healthcare CSV's columns, in file order (Kaggle "Healthcare Dataset"). */
export const CSV_COLUMNS = [
  'Name', 'Age', 'Gender', 'Blood Type', 'Medical Condition', 'Date of Admission', 'Doctor', 'Hospital',
  'Insurance Provider', 'Billing Amount', 'Room Number', 'Admission Type', 'Discharge Date', 'Medication', 'Test Results',
] as const;

export const BLOOD_TYPES = ['A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-'] as const;
export type BloodType = (typeof BLOOD_TYPES)[number];

/** Values that are kept but questionable; recorded on the admission and counted in the report. */
export type RowFlag = 'negative_billing' | 'zero_length_stay' | 'name_recased' | 'hospital_trimmed';

/** One cleaned, valid row of the CSV: an admission of a patient. */
export interface CleanRow {
  name: string;
  age: number;
  gender: 'Male' | 'Female' | 'Other';
  bloodType: BloodType;
  condition: string;
  /** ISO date 'YYYY-MM-DD'. */
  admitted: string;
  discharged: string;
  doctor: string;
  hospital: string;
  insurer: string;
  /** Exact decimal as text, e.g. '18856.281305978155' or '-502.5': never a float. */
  billing: string;
  room: number;
  admissionType: string;
  medication: string;
  testResult: string;
  flags: RowFlag[];
}

/** Why a row was refused: `line` is the 1-based line of the file where the row starts. */
export interface RowRejection {
  line: number;
  column: (typeof CSV_COLUMNS)[number] | null;
  reason: string;
}

/** A patient as the API shows them to clinicians and admins (name unsealed). */
export interface PatientRecord {
  id: string;
  name: string;
  gender: CleanRow['gender'];
  bloodType: BloodType;
  /** Year of the admission minus the age then: the source has no birth date. */
  birthYear: number;
}

/** An admission as stored: one cleaned CSV row without the patient's identity. */
export type Admission = Omit<CleanRow, 'name' | 'gender' | 'bloodType'> & { id: string; patientId: string };
