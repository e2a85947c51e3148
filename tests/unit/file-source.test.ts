import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { createFileDocumentSource } from '../../src/documents/file-source.js';
import { CONTRACT_DOCUMENTS, doc, documentSourceContract } from '../helpers/document-source-contract.js';

const root = mkdtempSync(join(tmpdir(), 'docs-'));
const dir = join(root, 'documents');
mkdirSync(dir);
for (const [id, content] of Object.entries(CONTRACT_DOCUMENTS)) {
  writeFileSync(join(dir, `${id}.json`), typeof content === 'string' ? content : JSON.stringify(content));
}
// Files outside the folder, or below it, that a traversing id would reach.
writeFileSync(join(root, 'secret.json'), JSON.stringify(doc('secret')));
mkdirSync(join(dir, 'sub'));
writeFileSync(join(dir, 'sub', 'nested.json'), JSON.stringify(doc('nested')));

documentSourceContract('file source', () => createFileDocumentSource(dir));

describe('file document source', () => {
  it.each([
    '../secret',
    '..\\secret',
    'sub/nested',
    '/etc/passwd',
    '../documents/doc_1',
    'doc_1\0',
    '..',
    '.',
  ])('never reads outside its folder, whatever the id: %j', async (id) => {
    const { documents, missing } = await createFileDocumentSource(dir).fetch([id]);
    expect(documents).toEqual([]);
    expect(missing).toHaveLength(1);
  });

  it('fails as unavailable, retryably, when a file exists but cannot be read', async () => {
    const loop = join(dir, 'loop.json');
    symlinkSync(loop, loop);
    await expect(createFileDocumentSource(dir).fetch(['loop'])).rejects.toMatchObject({
      code: 'DOCUMENT_SOURCE_UNAVAILABLE',
      retryable: true,
    });
  });
});
