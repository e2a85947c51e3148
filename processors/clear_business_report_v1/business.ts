import type { Document } from '@processor-orchestrator/sdk';

/**
 * The business documents a report is looked up from, most authoritative first (the same types
 * and order as secretary_of_state_v1): name and state come from the first that states them.
 */
export const BUSINESS_DOCUMENT_TYPES = [
  'certificate_of_good_standing',
  'business_registration',
  'articles_of_incorporation',
  'articles_of_organization',
] as const;

/** Who to ask the report API about. */
export interface Business {
  readonly name: string;
  /** Upper case, as the documents state it (normally a two-letter code). */
  readonly state: string;
}

/**
 * The business's name and state from its documents' `business_name` and `state` metadata.
 * Throws when there is no business document, or none of them states a name or a state.
 */
export function businessOf(documents: readonly Document[]): Business {
  const types: readonly string[] = BUSINESS_DOCUMENT_TYPES;
  const business = documents
    .filter((d) => types.includes(d.document_type))
    .sort((a, b) => types.indexOf(a.document_type) - types.indexOf(b.document_type));
  if (business.length === 0) {
    throw new Error(`no business document (${types.join(', ')}) among the ${documents.length} documents`);
  }
  const first = (field: string): string | undefined =>
    business
      .map((d) => d.metadata[field])
      .find((v): v is string => typeof v === 'string' && v.trim() !== '')
      ?.trim();
  const name = first('business_name');
  if (name === undefined) throw new Error('no business document states a business_name');
  const state = first('state');
  if (state === undefined) throw new Error('no business document states a state');
  return { name, state: state.toUpperCase() };
}
