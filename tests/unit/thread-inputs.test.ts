import { describe, expect, it } from 'vitest';

import { CHECK_ON_FETCH_BYTES, checkDocuments, parseDocument } from '../../src/events/document.js';
import { copyJson, createThreadInputs, type DocumentReader } from '../../src/processors/inputs.js';
import {
  decodeInput,
  encodeInput,
  encodeTexts,
  needsParse,
  type EncodedInput,
  type ParseDocument,
  type RunInput,
} from '../../src/processors/run.js';

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

const noInvalid: DocumentReader = {
  parse: parseDocument,
  invalid: (documents) => {
    throw new Error(`unexpected invalid documents: ${JSON.stringify(documents)}`);
  },
};
const decode = (encoded: EncodedInput) => decodeInput(encoded, parseDocument);

describe('the encoded input', () => {
  it('decodes to what was encoded: text beyond ASCII, and a lone surrogate JSON escapes', () => {
    const documents = [{ document_id: 'd', document_type: 't', metadata: { s: 'a\uD800b', e: 'é€😀' } }];
    expect(decode(encodeInput({ documents, missingDocuments: [] }))).toEqual({
      input: { documents, missingDocuments: [] },
      invalid: [],
    });
  });

  it('is UTF-8 in shared memory, under a key no other encoding has, even of the same documents', () => {
    const a = encodeInput(input());
    const b = encodeInput(input());
    expect(a.shared).toBeInstanceOf(SharedArrayBuffer);
    expect(a.shared.byteLength).toBe(Buffer.byteLength(JSON.stringify(input().documents[0])));
    expect(a.key).not.toBe(b.key);
  });
});

describe('the encoded input of documents as a source received them (too large to check on fetch)', () => {
  const text = (id: string, json: string) => ({ id, json: Buffer.from(json) });

  it('holds each document byte for byte as received, and reads each as the document it is', () => {
    const one =
      '{\n  "metadata": {"bank": "Föhr 銀行", "n": 1.50},\n  "document_type": "t", "document_id": "a"\n}\n';
    const two = '{"document_id": "b", "document_type": "t"}';
    const encoded = encodeTexts([text('a', one), text('b', two)], ['x']);
    expect(Buffer.from(encoded.shared).toString()).toBe(one + two);
    expect(decode(encoded)).toEqual({
      input: {
        documents: [
          { document_id: 'a', document_type: 't', metadata: { bank: 'Föhr 銀行', n: 1.5 } },
          // Validated where it is read: the schema's default filled in.
          { document_id: 'b', document_type: 't', metadata: {} },
        ],
        missingDocuments: ['x'],
      },
      invalid: [],
    });
  });

  it('gives a run what is not a valid document as missing, after the ids the source had none for, and says why', () => {
    const encoded = encodeTexts(
      [
        text('broken', '{ nope'),
        text('ok', '{"document_id": "ok", "document_type": "t", "metadata": {}, "internal": "secret"}'),
        text('shapeless', '{"document_id": "shapeless"}'),
        text('other', '{"document_id": "someone_else", "document_type": "t"}'),
      ],
      ['gone'],
    );
    const { input: run, invalid } = decode(encoded);
    // Unknown fields are dropped, as everywhere a document is read.
    expect(run.documents).toEqual([{ document_id: 'ok', document_type: 't', metadata: {} }]);
    expect(run.missingDocuments).toEqual(['gone', 'broken', 'shapeless', 'other']);
    expect(invalid.map((m) => m.id)).toEqual(['broken', 'shapeless', 'other']);
    expect(invalid[0]?.reason).toMatch(/^invalid JSON/);
    expect(invalid[1]?.reason).toMatch(/^invalid document: document_type/);
    expect(invalid[2]?.reason).toBe('its JSON holds document someone_else');
  });
});

describe('documents checked as they are fetched', () => {
  const text = (id: string, json: string) => ({ id, json: Buffer.from(json) });
  const large = (id: string) =>
    text(
      id,
      JSON.stringify({ document_id: id, document_type: 't', content: 'x'.repeat(CHECK_ON_FETCH_BYTES) }),
    );

  it('validates the small ones on the main thread and leaves the large ones to the threads', () => {
    const { documents: texts, missing } = checkDocuments({
      documents: [
        text('ok', '{"document_id": "ok", "document_type": "t", "internal": "dropped"}'),
        text('broken', '{ nope'),
        large('big'),
        text('other', '{"document_id": "someone_else", "document_type": "t"}'),
      ],
      missing: [{ id: 'gone', reason: 'not found' }],
    });
    expect(texts.map((t) => [t.id, t.checked ?? false])).toEqual([
      ['ok', true],
      ['big', false],
    ]);
    // As validation returned it: unknown fields dropped, defaults filled in.
    expect(Buffer.from(texts[0]?.json ?? []).toString()).toBe(
      '{"document_id":"ok","document_type":"t","metadata":{}}',
    );
    expect(missing).toEqual([
      { id: 'gone', reason: 'not found' },
      { id: 'broken', reason: expect.stringMatching(/^invalid JSON/) as string },
      { id: 'other', reason: 'its JSON holds document someone_else' },
    ]);
  });

  it('are read in the thread without the validator; only the large ones need it', () => {
    const { documents: texts } = checkDocuments({
      documents: [text('ok', '{"document_id": "ok", "document_type": "t"}')],
      missing: [],
    });
    const small = encodeTexts(texts, []);
    expect(needsParse(small)).toBe(false);
    const unused: ParseDocument = () => {
      throw new Error('the validator is not needed for checked documents');
    };
    expect(decodeInput(small, unused).input.documents).toEqual([
      { document_id: 'ok', document_type: 't', metadata: {} },
    ]);
    const big = encodeTexts(checkDocuments({ documents: [large('big')], missing: [] }).documents, []);
    expect(needsParse(big)).toBe(true);
    expect(decode(big).input.documents.map((d) => d.document_id)).toEqual(['big']);
  });
});

describe("a thread's inputs", () => {
  it('parse an event once for the runs that read it, and give each run documents of its own', () => {
    const inputs = createThreadInputs();
    const encoded = encodeInput(input());
    const first = inputs.take(encoded, noInvalid);
    const second = inputs.take(encoded, noInvalid);
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
    const reader = inputs.take(encoded, noInvalid);
    const idle = inputs.take(encoded, noInvalid);
    const later = inputs.take(encoded, noInvalid);
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

  it("time each run's first read of its documents (the thread's work, not the processor's)", () => {
    const inputs = createThreadInputs();
    const encoded = encodeInput({
      documents: [{ document_id: 'doc_1', document_type: 't', metadata: {}, content: 'x'.repeat(2 ** 20) }],
      missingDocuments: [],
    });
    const parsing = inputs.take(encoded, noInvalid);
    const copying = inputs.take(encoded, noInvalid);
    expect(parsing.readMs).toBe(0);
    parsing.get();
    copying.get();
    expect(parsing.readMs).toBeGreaterThan(0);
    expect(copying.readMs).toBeGreaterThan(0);
    // Asked again, the run has them already: nothing more is counted.
    const first = parsing.readMs;
    parsing.get();
    expect(parsing.readMs).toBe(first);
  });

  it('say once per parse which documents are not valid', () => {
    const inputs = createThreadInputs();
    const said: string[][] = [];
    const reader: DocumentReader = {
      parse: parseDocument,
      invalid: (documents) => said.push(documents.map((m) => m.id)),
    };
    const encoded = encodeTexts([{ id: 'bad', json: Buffer.from('[]') }], []);
    const a = inputs.take(encoded, reader);
    const b = inputs.take(encoded, reader);
    expect(a.get()).toEqual({ documents: [], missingDocuments: ['bad'] });
    expect(b.get()).toEqual({ documents: [], missingDocuments: ['bad'] });
    expect(said).toEqual([['bad']]);
  });

  it('keep two encodings apart, even of the same event', () => {
    const inputs = createThreadInputs();
    const a = inputs.take(encodeInput(input()), noInvalid);
    const b = inputs.take(encodeInput({ documents: [], missingDocuments: [] }), noInvalid);
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
