import { comparableName, type Registration } from './registration.js';

/** What secretary_of_state_v1 reports. */
export type RegistrationFactors = {
  documents_analyzed: number;
  /**
   * A filing is evidenced (a registration number or date, or a good-standing certificate) and
   * the status has not ended it.
   */
  business_registered: boolean;
  business_name: string | null;
  /** Two-letter code. */
  registration_state: string | null;
  /** `llc`, `corporation`, or the stated type in snake case. */
  entity_type: string | null;
  /** `YYYY-MM-DD`. */
  registration_date: string | null;
  registration_number: string | null;
  /** The stated status in snake case (`active`, `good_standing`, `dissolved`…). */
  status: string | null;
  /** The status is one of GOOD_STATUSES; with no stated status: a good-standing certificate is present. */
  good_standing: boolean;
  /** Every document that names the business agrees, ignoring case, spaces and punctuation. */
  name_consistent: boolean;
  /** Every document that names a state names the same one. */
  state_consistent: boolean;
};

/** Statuses that mean the business may trade. */
export const GOOD_STATUSES: ReadonlySet<string> = new Set(['active', 'good_standing', 'in_good_standing']);

/** Statuses that mean the registration has ended. */
export const ENDED_STATUSES: ReadonlySet<string> = new Set([
  'dissolved',
  'revoked',
  'cancelled',
  'canceled',
  'withdrawn',
  'forfeited',
  'terminated',
  'merged',
]);

/**
 * Combines the registrations of an underwriting's business documents, ordered most authoritative
 * first: each fact comes from the first registration that states it.
 */
export function registrationFacts(registrations: readonly Registration[]): RegistrationFactors {
  const first = <K extends keyof Registration>(key: K): Registration[K] | null =>
    registrations.find((r) => r[key] !== null)?.[key] ?? null;
  const hasCertificate = registrations.some((r) => r.documentType === 'certificate_of_good_standing');
  const status = first('status');
  const filed =
    hasCertificate || registrations.some((r) => r.registrationNumber !== null || r.registrationDate !== null);

  return {
    documents_analyzed: registrations.length,
    business_registered: filed && !(status !== null && ENDED_STATUSES.has(status)),
    business_name: first('businessName'),
    registration_state: first('state'),
    entity_type: first('entityType'),
    registration_date: first('registrationDate'),
    registration_number: first('registrationNumber'),
    status,
    good_standing: status === null ? hasCertificate : GOOD_STATUSES.has(status),
    name_consistent: allEqual(registrations.map((r) => r.businessName && comparableName(r.businessName))),
    state_consistent: allEqual(registrations.map((r) => r.state)),
  };
}

function allEqual(values: readonly (string | null)[]): boolean {
  return new Set(values.filter((v) => v !== null)).size <= 1;
}
