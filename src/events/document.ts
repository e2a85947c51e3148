import { z } from 'zod';

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
