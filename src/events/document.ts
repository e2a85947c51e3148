import { z } from 'zod';

import { formatIssues, messageOf } from '../errors.js';
import { parseJson } from './parse-json.js';

/**
 * Metadata of one document, as a document source returns it for an id. Inbound data: unknown
 * fields are tolerated (and dropped), so the document service can grow without breaking us.
 */
export const DocumentSchema = z.object({
  document_id: z.string().min(1),
  document_type: z.string().min(1),
  metadata: z.record(z.string(), z.unknown()).default({}),
  content: z.string().optional(),
  processing_status: z.string().optional(),
});
/**
 * One document's metadata, as a processor receives it in `ctx.documents`: `document_id`,
 * `document_type` (e.g. `bank_statement`), `metadata` (an object whose shape depends on the
 * type), and optional `content` and `processing_status`.
 */
export type Document = z.infer<typeof DocumentSchema>;

/** A document id that resolves to no document, and why (logged; processors get the id). */
export interface MissingDocument {
  id: string;
  reason: string;
}

/**
 * One document's JSON as a document source received it for `id`, not parsed yet; or, `checked`,
 * the JSON of the document validation returned for it. A small document is parsed and validated
 * on the main thread as it is fetched (`checkDocuments`); a larger one only in the worker threads
 * that read it, where the main thread, which takes every event in, would spend milliseconds on it.
 */
export interface DocumentText {
  id: string;
  json: Uint8Array;
  checked?: true;
}

/**
 * Documents up to this size (their JSON, in bytes) are parsed and validated on the main thread as
 * they are fetched: well under a millisecond each. Larger ones (a 256 KiB document costs the main
 * thread a few milliseconds, most of it fresh memory) are left to the threads that read them.
 */
export const CHECK_ON_FETCH_BYTES = 64 * 1024;

// A byte-order mark stays, as in the threads' decoding: JSON with one is not valid JSON.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** A document's JSON as text (no copy of its bytes). */
export function jsonText(text: DocumentText): string {
  return utf8.decode(text.json);
}

/**
 * What a document source fetched, each small document parsed and validated now: a valid one as
 * the JSON of what validation returned (`checked`), one that is not valid among the missing, with
 * why. Larger ones are passed on as received.
 */
export function checkDocuments(fetched: {
  documents: readonly DocumentText[];
  missing: readonly MissingDocument[];
}): { documents: DocumentText[]; missing: MissingDocument[] } {
  const documents: DocumentText[] = [];
  const missing = [...fetched.missing];
  for (const text of fetched.documents) {
    if (text.json.byteLength > CHECK_ON_FETCH_BYTES) {
      documents.push(text);
      continue;
    }
    const document = parseDocument(text.id, jsonText(text));
    if ('reason' in document) missing.push(document);
    else documents.push({ id: text.id, json: Buffer.from(JSON.stringify(document)), checked: true });
  }
  return { documents, missing };
}

/**
 * A document's JSON text, as received for `id`: the document, or why it counts as missing (not
 * JSON, not a document, or another document than the one asked for).
 */
export function parseDocument(id: string, text: string): Document | MissingDocument {
  let json: unknown;
  try {
    // A long content is a slice of the text, not a copy: a thread reading a large document
    // holds it once.
    json = parseJson(text);
  } catch (err) {
    return { id, reason: `invalid JSON: ${messageOf(err)}` };
  }
  const parsed = DocumentSchema.safeParse(json);
  if (!parsed.success) {
    return { id, reason: `invalid document: ${formatIssues(parsed.error.issues)}` };
  }
  if (parsed.data.document_id !== id) {
    return { id, reason: `its JSON holds document ${parsed.data.document_id}` };
  }
  return parsed.data;
}
