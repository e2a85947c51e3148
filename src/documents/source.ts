import type { Context } from '@opentelemetry/api';

import type { Document } from '../events/document.js';

/** A document id the source does not have, and why (logged; processors get the id). */
export interface MissingDocument {
  id: string;
  reason: string;
}

export interface DocumentBatch {
  /** Documents found, in the order of the ids asked for. */
  documents: Document[];
  missing: MissingDocument[];
}

/**
 * Where document metadata comes from. `fetch` resolves with what exists and what is missing
 * (missing is not an error); it rejects with a retryable DOCUMENT_SOURCE_UNAVAILABLE only when
 * the source cannot answer, so the event is retried later instead of processed without data.
 */
export interface DocumentSource {
  /** `trace`: the context its requests are children of (the event's document fetch span). */
  fetch(ids: readonly string[], trace?: Context): Promise<DocumentBatch>;
  /** Releases what the source holds open (connections), if anything. */
  close?(): Promise<void>;
}
