import { z } from 'zod';

import { formatIssues, messageOf } from '../errors.js';

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
 * One document's JSON exactly as a document source received it for `id`, not parsed yet: it is
 * parsed and validated (`parseDocument`) in the worker threads that read it, not on the main thread
 * that fetched it, where a 256 KiB document costs a few milliseconds to parse.
 */
export interface DocumentText {
  id: string;
  json: Uint8Array;
}

/**
 * A document's JSON text, as received for `id`: the document, or why it counts as missing (not
 * JSON, not a document, or another document than the one asked for).
 */
export function parseDocument(id: string, text: string): Document | MissingDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
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
