/**
 * The few FHIR R4 (4.0.1) types the patient export emits: only the elements it fills, so the
 * compiler keeps the output inside what the official JSON schema allows.
 * See https://hl7.org/fhir/R4/ for the full definitions.
 */

export interface FhirCoding {
  system: string;
  code: string;
  display?: string;
}

export interface FhirCodeableConcept {
  coding?: FhirCoding[];
  text?: string;
}

/** A literal reference (`urn:uuid:` of an entry in the same bundle) and/or a display-only one. */
export interface FhirReference {
  reference?: string;
  display?: string;
}

export interface FhirIdentifier {
  system: string;
  value: string;
}

/** `start`/`end` are FHIR dateTimes: a date ('2024-01-31') or a date-time with a zone. */
export interface FhirPeriod {
  start?: string;
  end?: string;
}

/** `code` is set only with `system` (invariant qty-3). */
export interface FhirQuantity {
  value: number;
  unit?: string;
  system?: string;
  code?: string;
}

export interface FhirHumanName {
  use?: 'official';
  text: string;
  family?: string;
  given?: string[];
  prefix?: string[];
  suffix?: string[];
}

export interface FhirPatient {
  resourceType: 'Patient';
  id: string;
  identifier: FhirIdentifier[];
  name?: FhirHumanName[];
  gender: 'male' | 'female' | 'other' | 'unknown';
  /** A FHIR date; the export only knows the year ('1984'), which FHIR allows as a partial date. */
  birthDate?: string;
}

export interface FhirDevice {
  resourceType: 'Device';
  id: string;
  identifier: FhirIdentifier[];
  deviceName?: Array<{ name: string; type: 'user-friendly-name' }>;
  type?: FhirCodeableConcept;
  patient: FhirReference;
}

export interface FhirEncounter {
  resourceType: 'Encounter';
  id: string;
  identifier: FhirIdentifier[];
  status: 'finished';
  class: FhirCoding;
  type?: FhirCodeableConcept[];
  priority?: FhirCodeableConcept;
  subject: FhirReference;
  participant?: Array<{ type?: FhirCodeableConcept[]; individual: FhirReference }>;
  period: FhirPeriod;
  diagnosis?: Array<{ condition: FhirReference }>;
  location?: Array<{ location: FhirReference }>;
  serviceProvider?: FhirReference;
}

export interface FhirCondition {
  resourceType: 'Condition';
  id: string;
  clinicalStatus: FhirCodeableConcept;
  verificationStatus: FhirCodeableConcept;
  category: FhirCodeableConcept[];
  code: FhirCodeableConcept;
  subject: FhirReference;
  encounter: FhirReference;
  recordedDate?: string;
}

export interface FhirMedicationStatement {
  resourceType: 'MedicationStatement';
  id: string;
  status: 'completed';
  medicationCodeableConcept: FhirCodeableConcept;
  subject: FhirReference;
  context: FhirReference;
  effectivePeriod: FhirPeriod;
  reasonReference?: FhirReference[];
}

export interface FhirObservationComponent {
  code: FhirCodeableConcept;
  valueQuantity?: FhirQuantity;
  valueInteger?: number;
  dataAbsentReason?: FhirCodeableConcept;
}

export interface FhirObservation {
  resourceType: 'Observation';
  id: string;
  status: 'final';
  category?: FhirCodeableConcept[];
  code: FhirCodeableConcept;
  subject: FhirReference;
  encounter?: FhirReference;
  effectivePeriod?: FhirPeriod;
  valueQuantity?: FhirQuantity;
  valueCodeableConcept?: FhirCodeableConcept;
  dataAbsentReason?: FhirCodeableConcept;
  interpretation?: FhirCodeableConcept[];
  note?: Array<{ text: string }>;
  device?: FhirReference;
  component?: FhirObservationComponent[];
}

export type FhirResource =
  | FhirPatient
  | FhirDevice
  | FhirEncounter
  | FhirCondition
  | FhirMedicationStatement
  | FhirObservation;

export interface FhirBundleEntry {
  /** `urn:uuid:<uuid>`; the resource's `id` is the same uuid. */
  fullUrl: string;
  resource: FhirResource;
}

export interface FhirBundle {
  resourceType: 'Bundle';
  identifier: FhirIdentifier;
  type: 'collection';
  /** A FHIR instant: 'YYYY-MM-DDThh:mm:ss.sssZ'. */
  timestamp: string;
  entry: FhirBundleEntry[];
}
