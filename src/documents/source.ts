import type { Context } from '@opentelemetry/api';

import type { DocumentText, MissingDocument } from '../events/document.js';

export type { DocumentText, MissingDocument } from '../events/document.js';

export interface DocumentBatch {
  /**
   * The documents' JSON as received, once each, in the order of the ids asked for. A source does
   * not parse them: the orchestrator validates the small ones as they arrive and the threads that
   * read them the large ones (`checkDocuments`); one that is not a valid document is missing.
   */
  documents: DocumentText[];
  /** Ids the source has no document for (not found, not a valid id), and why. */
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
