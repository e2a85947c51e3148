import { describe, expect, it } from 'vitest';

import type { DocumentBatch, DocumentSource } from '../../src/documents/source.js';
import { jsonText, parseDocument } from '../../src/events/document.js';

export const doc = (id: string, type = 'bank_statement') => ({
  document_id: id,
  document_type: type,
  metadata: { n: 1 },
});

/** What every source is given: an object is a document's JSON, a string a raw (broken) body. */
export const CONTRACT_DOCUMENTS: Record<string, unknown> = {
  doc_1: { ...doc('doc_1'), extra: 'dropped' },
  doc_2: doc('doc_2', 'tax_return'),
  broken: '{ nope',
  wrong_shape: { document_id: 'wrong_shape' },
  other: doc('someone_else'),
};

/** Ids that try to name something else than one document. */
export const HOSTILE_IDS = [
  '../secret',
  'sub/nested',
  '/etc/passwd',
  '..',
  '.',
  '',
  'doc_1?x=1',
  'doc_1#x',
  'doc_1/',
];

/** The batch's documents as the threads read them (`parseDocument`), each valid or why not. */
export const read = (batch: DocumentBatch) =>
  batch.documents.map((text) => parseDocument(text.id, jsonText(text)));

/**
 * The contract every DocumentSource keeps, run against each one with the same documents:
 * `source()` serves CONTRACT_DOCUMENTS.
 */
export function documentSourceContract(name: string, source: () => DocumentSource): void {
  describe(`${name}: the DocumentSource contract`, () => {
    it('returns the documents that exist, once each, in the order asked, and the ids that are missing', async () => {
      const batch = await source().fetch(['doc_2', 'doc_404', 'doc_1', 'doc_2']);
      expect(batch.documents.map((d) => d.id)).toEqual(['doc_2', 'doc_1']);
      // As received: unknown fields are dropped where the documents are read, not by the source.
      expect(batch.documents.map((d) => JSON.parse(Buffer.from(d.json).toString()) as unknown)).toEqual([
        CONTRACT_DOCUMENTS['doc_2'],
        CONTRACT_DOCUMENTS['doc_1'],
      ]);
      expect(read(batch)).toEqual([doc('doc_2', 'tax_return'), doc('doc_1')]);
      expect(batch.missing).toEqual([{ id: 'doc_404', reason: 'not found' }]);
    });

    it('returns a body that is not JSON, not a document, or another document as received: reading it says why it is missing', async () => {
      const batch = await source().fetch(['broken', 'wrong_shape', 'other']);
      expect(batch.missing).toEqual([]);
      expect(Buffer.from(batch.documents[0]?.json ?? []).toString()).toBe('{ nope');
      const missing = read(batch) as { id: string; reason: string }[];
      expect(missing.map((m) => m.id)).toEqual(['broken', 'wrong_shape', 'other']);
      expect(missing[0]?.reason).toMatch(/^invalid JSON/);
      expect(missing[1]?.reason).toMatch(/^invalid document: document_type/);
      expect(missing[2]?.reason).toMatch(/ holds document someone_else$/);
    });

    it('answers an empty list with an empty batch', async () => {
      expect(await source().fetch([])).toEqual({ documents: [], missing: [] });
    });

    it('reports every id that tries to name something else as missing, and returns nothing for it', async () => {
      const batch = await source().fetch(HOSTILE_IDS);
      expect(batch.documents).toEqual([]);
      expect(batch.missing.map((m) => m.id)).toEqual(HOSTILE_IDS);
    });
  });
}
