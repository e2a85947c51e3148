import { describe, expect, it } from 'vitest';

import { parseDocument } from '../../src/documents/parse.js';
import type { Document } from '../../src/events/document.js';
import { copyJson, createThreadInputs } from '../../src/processors/inputs.js';
import { decodeInput, encodeInput, type RunInput } from '../../src/processors/run.js';

const input = (): RunInput => ({
  documents: [
    {
      document_id: 'doc_1',
      document_type: 'bank_statement',
      metadata: { bank: 'Föhr Sparkasse 銀行 🏦', months: [{ month: '2024-01', balance: 10.5 }] },
      content: 'x'.repeat(1024),
    },
  ],
  missingDocuments: ['doc_2'],
});

describe('the encoded input', () => {
  it('decodes to what was encoded: text beyond ASCII, and a lone surrogate JSON escapes', () => {
    const documents = [{ document_id: 'd', document_type: 't', metadata: { s: 'a\uD800b', e: 'é€😀' } }];
    expect(decodeInput(encodeInput({ documents, missingDocuments: [] }))).toEqual({
      documents,
      missingDocuments: [],
    });
  });

  it('is UTF-8 in shared memory, under a key no other encoding has, even of the same documents', () => {
    const a = encodeInput(input());
    const b = encodeInput(input());
    expect(a.shared).toBeInstanceOf(SharedArrayBuffer);
    expect(a.shared.byteLength).toBe(Buffer.byteLength(JSON.stringify(input())));
    expect(a.key).not.toBe(b.key);
  });
});

describe('the encoded input of documents as a source parsed them', () => {
  const parsed = (text: string) => parseDocument('d', text, 'the file') as Document;
  const encodedText = (documents: Document[]) =>
    Buffer.from(encodeInput({ documents, missingDocuments: ['x'] }).shared).toString();

  it('holds the text a document was parsed from, when parsing that text gives the same document', () => {
    const text =
      '{\n  "metadata": {"bank": "Föhr 銀行", "n": 1.50},\n  "document_type": "t", "document_id": "d"\n}\n';
    const document = parsed(text);
    expect(encodedText([document, document])).toBe(
      `{"documents":[${text},${text}],"missingDocuments":["x"]}`,
    );
    expect(decodeInput(encodeInput({ documents: [document], missingDocuments: [] })).documents).toEqual([
      document,
    ]);
  });

  it('serializes what validation returned when the text holds more, or less, than the document', () => {
    const extra = parsed('{"document_id": "d", "document_type": "t", "metadata": {}, "internal": "secret"}');
    const defaulted = parsed('{"document_id": "d", "document_type": "t"}');
    expect(encodedText([extra, defaulted])).toBe(
      `{"documents":[${JSON.stringify(extra)},${JSON.stringify(defaulted)}],"missingDocuments":["x"]}`,
    );
    expect(
      decodeInput(encodeInput({ documents: [extra, defaulted], missingDocuments: [] })).documents,
    ).toEqual([
      { document_id: 'd', document_type: 't', metadata: {} },
      { document_id: 'd', document_type: 't', metadata: {} },
    ]);
  });
});

describe("a thread's inputs", () => {
  it('parse an event once for the runs that read it, and give each run documents of its own', () => {
    const inputs = createThreadInputs();
    const encoded = encodeInput(input());
    const first = inputs.take(encoded);
    const second = inputs.take(encoded);
    const one = first.get();
    const two = second.get();
    expect(inputs.held).toBe(1);
    expect(one).toEqual(input());
    expect(two).toEqual(input());
    // Objects and arrays are each run's own: what one run changes, the other does not see.
    expect(two).not.toBe(one);
    expect(two.documents).not.toBe(one.documents);
    expect(two.documents[0]?.metadata).not.toBe(one.documents[0]?.metadata);
    (one.documents as unknown[]).pop();
    (one.missingDocuments as string[]).push('doc_3');
    expect(two).toEqual(input());
    // The same run reads the same documents each time it asks.
    expect(first.get()).toBe(one);
  });

  it('hold a parse until the last run that read it has settled; a run that never read holds none', () => {
    const inputs = createThreadInputs();
    const encoded = encodeInput(input());
    const reader = inputs.take(encoded);
    const idle = inputs.take(encoded);
    const later = inputs.take(encoded);
    reader.get();
    idle.release();
    expect(inputs.held).toBe(1);
    later.get();
    reader.release();
    reader.release();
    expect(inputs.held).toBe(1);
    later.release();
    expect(inputs.held).toBe(0);
    // Read only after its run settled (a callback left behind): the documents, holding nothing.
    expect(idle.get()).toEqual(input());
    expect(inputs.held).toBe(0);
  });

  it('keep two encodings apart, even of the same event', () => {
    const inputs = createThreadInputs();
    const a = inputs.take(encodeInput(input()));
    const b = inputs.take(encodeInput({ documents: [], missingDocuments: [] }));
    expect(a.get().documents).toHaveLength(1);
    expect(b.get().documents).toHaveLength(0);
    expect(inputs.held).toBe(2);
  });
});

describe('copyJson', () => {
  it('copies objects and arrays, keeps values', () => {
    const value = JSON.parse('{"a":[1,"two",null,true,{"b":{"c":[]}}],"d":-0.5}') as Record<string, unknown>;
    const copy = copyJson(value);
    expect(copy).toEqual(value);
    expect(copy['a']).not.toBe(value['a']);
  });

  it('keeps an own __proto__ key a property, not the prototype', () => {
    const value = JSON.parse('{"__proto__":{"polluted":true},"x":1}') as Record<string, unknown>;
    const copy = copyJson(value);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'x']);
    expect(Object.getOwnPropertyDescriptor(copy, '__proto__')?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
