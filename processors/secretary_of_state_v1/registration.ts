import type { Document } from '@processor-orchestrator/sdk';

/**
 * The business documents this processor reads, most authoritative first: a certificate of good
 * standing is the state's latest word, the formation documents its earliest. When documents
 * disagree, a fact is taken from the first type in this order that states it.
 */
export const BUSINESS_DOCUMENT_TYPES = [
  'certificate_of_good_standing',
  'business_registration',
  'articles_of_incorporation',
  'articles_of_organization',
] as const;

/** The registration facts one business document states; null where it states none. */
export interface Registration {
  readonly documentId: string;
  readonly documentType: string;
  readonly businessName: string | null;
  /** Two-letter code, upper case. */
  readonly state: string | null;
  /** See `normalizeEntityType`. */
  readonly entityType: string | null;
  /** `YYYY-MM-DD`, a real calendar date. */
  readonly registrationDate: string | null;
  readonly registrationNumber: string | null;
  /** Lower-case words joined by `_`: `Good Standing` → `good_standing`. */
  readonly status: string | null;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const STATE = /^[A-Za-z]{2}$/;

const ENTITY_ALIASES: Readonly<Record<string, string>> = {
  llc: 'llc',
  l_l_c: 'llc',
  limited_liability_company: 'llc',
  corporation: 'corporation',
  corp: 'corporation',
  inc: 'corporation',
  incorporated: 'corporation',
  c_corp: 'corporation',
  c_corporation: 'corporation',
  s_corp: 'corporation',
  s_corporation: 'corporation',
};

/** Whether a document is one of the business documents this processor reads. */
export function isBusinessDocument(document: Document): boolean {
  return (BUSINESS_DOCUMENT_TYPES as readonly string[]).includes(document.document_type);
}

/** Business documents ordered by authority (see `BUSINESS_DOCUMENT_TYPES`), then as given. */
export function byAuthority(documents: readonly Document[]): Document[] {
  const rank = (d: Document) => (BUSINESS_DOCUMENT_TYPES as readonly string[]).indexOf(d.document_type);
  return documents.filter(isBusinessDocument).sort((a, b) => rank(a) - rank(b));
}

/**
 * Reads a business document's metadata (`business_name`, `state`, `entity_type`,
 * `registration_date`, `registration_number`, `status`). Absent or empty fields are null; a
 * value of the wrong form throws an Error naming the document and the field.
 */
export function readRegistration(document: Document): Registration {
  const problem = (field: string, what: string, value: unknown) =>
    new Error(`document ${document.document_id}: ${field} ${what}, got ${JSON.stringify(value)}`);
  const text = (field: string): string | null => {
    const value = document.metadata[field];
    if (value === undefined || value === null) return null;
    if (typeof value === 'number' && Number.isInteger(value)) return String(value);
    if (typeof value !== 'string') throw problem(field, 'must be text', value);
    return value.trim() === '' ? null : value.trim();
  };

  const state = text('state');
  if (state !== null && !STATE.test(state)) throw problem('state', 'must be a two-letter state code', state);
  const registrationDate = text('registration_date');
  if (registrationDate !== null && !isCalendarDate(registrationDate)) {
    throw problem('registration_date', 'must be a date (YYYY-MM-DD)', registrationDate);
  }
  const entityType = text('entity_type');
  const status = text('status');
  return {
    documentId: document.document_id,
    documentType: document.document_type,
    businessName: text('business_name'),
    state: state?.toUpperCase() ?? null,
    entityType: entityType === null ? null : normalizeEntityType(entityType),
    registrationDate,
    registrationNumber: text('registration_number'),
    status: status === null ? null : snakeCase(status),
  };
}

/** `LLC`, `Limited Liability Company` → `llc`; `Inc.`, `C-Corp` → `corporation`; else snake case. */
export function normalizeEntityType(value: string): string {
  const words = snakeCase(value);
  return ENTITY_ALIASES[words] ?? words;
}

/** A business name reduced to lower-case letters and digits, for comparisons. */
export function comparableName(name: string): string {
  return name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');
}

function snakeCase(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}

function isCalendarDate(value: string): boolean {
  if (!DATE.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}
