import { describe, expect, it } from 'vitest';

import type { DocumentSource } from '../../src/documents/source.js';

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

/**
 * The contract every DocumentSource keeps, run against each one with the same documents:
 * `source()` serves CONTRACT_DOCUMENTS.
 */
export function documentSourceContract(name: string, source: () => DocumentSource): void {
  describe(`${name}: the DocumentSource contract`, () => {
    it('returns the documents that exist, once each, in the order asked, and the ids that are missing', async () => {
      const batch = await source().fetch(['doc_2', 'doc_404', 'doc_1', 'doc_2']);
      expect(batch.documents).toEqual([doc('doc_2', 'tax_return'), doc('doc_1')]);
      expect(batch.missing).toEqual([{ id: 'doc_404', reason: 'not found' }]);
    });

    it('reports a body that is not JSON, not a document, or another document as missing with the reason', async () => {
      const { documents, missing } = await source().fetch(['broken', 'wrong_shape', 'other']);
      expect(documents).toEqual([]);
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
