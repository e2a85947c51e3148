import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { createFileDocumentSource } from '../../src/documents/file-source.js';

const doc = (id: string, type = 'bank_statement') => ({
  document_id: id,
  document_type: type,
  metadata: { n: 1 },
});

describe('file document source', () => {
  let root: string;
  let dir: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'docs-'));
    dir = join(root, 'documents');
    await mkdir(dir);
    await writeFile(join(dir, 'doc_1.json'), JSON.stringify({ ...doc('doc_1'), extra: 'dropped' }));
    await writeFile(join(dir, 'doc_2.json'), JSON.stringify(doc('doc_2', 'tax_return')));
    await writeFile(join(dir, 'broken.json'), '{ nope');
    await writeFile(join(dir, 'wrong_shape.json'), JSON.stringify({ document_id: 'wrong_shape' }));
    await writeFile(join(dir, 'other.json'), JSON.stringify(doc('someone_else')));
    // A file outside the folder that a traversing id would reach.
    await writeFile(join(root, 'secret.json'), JSON.stringify(doc('secret')));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'nested.json'), JSON.stringify(doc('nested')));
  });

  it('returns the documents that exist, in order, and the ids that are missing', async () => {
    const batch = await createFileDocumentSource(dir).fetch(['doc_2', 'doc_404', 'doc_1', 'doc_2']);
    expect(batch.documents).toEqual([doc('doc_2', 'tax_return'), doc('doc_1')]);
    expect(batch.missing).toEqual([{ id: 'doc_404', reason: 'not found' }]);
  });

  it('reports a broken file, a bad shape and a mismatched id as missing with the reason', async () => {
    const { documents, missing } = await createFileDocumentSource(dir).fetch([
      'broken',
      'wrong_shape',
      'other',
    ]);
    expect(documents).toEqual([]);
    expect(missing.map((m) => m.id)).toEqual(['broken', 'wrong_shape', 'other']);
    expect(missing[0]?.reason).toMatch(/^invalid JSON/);
    expect(missing[1]?.reason).toMatch(/^invalid document: document_type/);
    expect(missing[2]?.reason).toBe('the file holds document someone_else');
  });

  it.each([
    '../secret',
    '..\\secret',
    'sub/nested',
    '/etc/passwd',
    `${'..'}/documents/doc_1`,
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
    await symlink(loop, loop);
    await expect(createFileDocumentSource(dir).fetch(['loop'])).rejects.toMatchObject({
      code: 'DOCUMENT_SOURCE_UNAVAILABLE',
      retryable: true,
    });
  });
});
