import { DocumentSchema, type Document } from '../events/document.js';
import { formatIssues, messageOf } from '../errors.js';
import { recordExactText } from '../processors/run.js';
import type { MissingDocument } from './source.js';

/**
 * One document's JSON text, as any source received it for `id`: the document, or why it counts
 * as missing (not JSON, not a document, or another document than the one asked for).
 */
export function parseDocument(id: string, text: string, holder: string): Document | MissingDocument {
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
    return { id, reason: `${holder} holds document ${parsed.data.document_id}` };
  }
  if (isExact(json as Record<string, unknown>)) recordExactText(parsed.data, text);
  return parsed.data;
}

const FIELDS = new Set(Object.keys(DocumentSchema.shape));

/**
 * Whether a valid document's JSON parses to the very document validation returned: it has no
 * field validation drops and none it fills in (the schema transforms no value).
 */
function isExact(json: Record<string, unknown>): boolean {
  return 'metadata' in json && Object.keys(json).every((key) => FIELDS.has(key));
}
