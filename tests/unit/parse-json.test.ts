import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { describe, expect, it } from 'vitest';

import { SHARED_STRING_CHARS, parseJson } from '../../src/events/parse-json.js';

const long = (char = 'a', extra = 7) => char.repeat(SHARED_STRING_CHARS + extra);

/**
 * What `parse` makes of `text`: its value as JSON (own keys included) and whether every prototype
 * stayed Object's, or its error.
 */
function outcome(parse: (text: string) => unknown, text: string) {
  try {
    const value = parse(text);
    return { value: JSON.stringify(value), prototypes: prototypesIn(value) };
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

// An own `__proto__` key must stay a property: the prototype of every object stays Object's.
function prototypesIn(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (!Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value).every(prototypesIn);
}

const sameAsJsonParse = (text: string) => expect(outcome(parseJson, text)).toEqual(outcome(JSON.parse, text));

describe('parseJson: the value or the error of JSON.parse', () => {
  const cases: [string, string][] = [
    ['a document with a long content', JSON.stringify({ document_id: 'd', content: long(), n: 1 })],
    ['long strings in arrays and nested objects', JSON.stringify([long('x'), { a: [long('y', 9)] }, 'z'])],
    ['integer-like keys, which objects order first', JSON.stringify({ b: long('b'), 1: long('c') })],
    ['a long string with an escape', JSON.stringify({ content: `${long()}\n` })],
    ['a long string with an escaped quote', JSON.stringify({ content: `x"${long()}` })],
    ['a long string of two-byte characters', JSON.stringify({ content: long('é€😀') })],
    ['a long key', JSON.stringify({ [long('k')]: 1 })],
    ['a long top-level string', JSON.stringify(long())],
    ['a long value under __proto__', `{"__proto__": "${long()}", "a": {"__proto__": "${long()}"}}`],
    ['a duplicate key, the long value first', `{"a": "${long()}", "a": "short"}`],
    ['a duplicate key, the long value last', `{"a": "short", "a": "${long()}"}`],
    ['a long run of spaces between strings', `["a",${' '.repeat(SHARED_STRING_CHARS + 3)}"b"]`],
    ['a long run between a string and a number', `{"a":"b"${' '.repeat(SHARED_STRING_CHARS)},"c":1}`],
    ['a string that spells the placeholder', `["\\u0000long:0", "${long()}"]`],
    ['a string that spells the placeholder, escaped apart', `["\\u0000\\u006cong:0", "${long()}"]`],
    ['a raw control character in a long string', `{"content": "${long()}\u0001"}`],
    ['a long string never closed', `{"content": "${long()}`],
    ['an object never closed', `{"content": "${long()}"`],
    ['something after the value', `{"content": "${long()}"} x`],
    ['a long string as a key without a value', `{"${long()}"}`],
    ['a bare word before a long string', `[nul, "${long()}"]`],
    ['an escaped quote opening the run', `["\\"${long()}", 1]`],
    ['short strings only', JSON.stringify({ a: 'b', c: [1, 2, { d: 'e' }] })],
  ];
  it.each(cases)('%s', (_, text) => sameAsJsonParse(text));

  it('holds for mutated documents: characters deleted, doubled or inserted anywhere', () => {
    // A fixed seed: every run of the suite tries the same texts.
    let seed = 22;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const inserts = ['"', '\\', ':', ',', '{', '}', '[', ']', ' ', '\u0001', 'é', '\\u0000'];
    const base = JSON.stringify({
      document_id: 'd',
      metadata: { list: [1, 'two', { three: long('3') }], note: 'a "quoted" \\ word' },
      content: long('c', 11),
      more: [long('m', 5), 'x'],
    });
    // Where mutations matter most: around each quote, and anywhere at all.
    const quotes = [...base.matchAll(/"/g)].map((m) => m.index);
    for (let i = 0; i < 300; i++) {
      const at = i % 2 === 0 ? quotes[random(quotes.length)]! + random(3) - 1 : random(base.length);
      const op = random(3);
      const text =
        op === 0
          ? base.slice(0, at) + base.slice(at + 1)
          : op === 1
            ? base.slice(0, at) + base[at] + base.slice(at)
            : base.slice(0, at) + inserts[random(inserts.length)] + base.slice(at);
      expect(outcome(parseJson, text), `mutation ${i} (op ${op} at ${at})`).toEqual(
        outcome(JSON.parse, text),
      );
    }
  });
});

describe('parseJson: long strings shared with the text', () => {
  // V8 puts a string of more than 128 KiB in its large-object space, fresh pages each: that is
  // what parseJson saves, and what these count.
  const largeObjectBytes = () =>
    getHeapSpaceStatistics()
      .filter((space) => space.space_name.includes('large_object'))
      .reduce((sum, space) => sum + space.space_used_size, 0);
  const text = JSON.stringify({ document_id: 'd', content: 'c'.repeat(256 * 1024) });

  // A real collection first, so that garbage freed while parsing is not counted against it.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  const grows = (parse: (text: string) => unknown) => {
    const held: unknown[] = [];
    gc();
    const before = largeObjectBytes();
    for (let i = 0; i < 8; i++) held.push(parse(text));
    const grown = largeObjectBytes() - before;
    expect(held).toHaveLength(8);
    return grown;
  };

  it('allocates no large string for a long content, where JSON.parse copies it', () => {
    expect(grows(JSON.parse)).toBeGreaterThanOrEqual(8 * 256 * 1024);
    expect(grows(parseJson)).toBeLessThan(256 * 1024);
    expect((parseJson(text) as { content: string }).content).toBe('c'.repeat(256 * 1024));
  });
});
