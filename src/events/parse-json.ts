/**
 * String values at least this long (UTF-16 code units) are shared with the text `parseJson` is
 * given, not copied. Half V8's large-object size for one-byte strings (128 KiB): a shorter string
 * is copied in its young generation for next to nothing, a longer one takes fresh pages, each
 * faulted in (about 15 µs a page on a loaded 2-core VM, 1 ms for a 256 KiB string).
 */
export const SHARED_STRING_CHARS = 64 * 1024;

// What stands in for a long string while the rest is parsed. It begins with U+0000, which JSON
// text can only write as the escape `\u0000`: `parseJson` takes this path only for a text
// without one, so no string of the document itself can look like one of these.
const PLACEHOLDER = '\u0000long:';
// eslint-disable-next-line no-control-regex -- raw control characters are what it looks for
const CONTROL = /[\u0000-\u001f]/;

/**
 * `JSON.parse(text)`, the same value or the same error, except that each long string value of
 * the text (no escapes, `SHARED_STRING_CHARS` or more) is a slice of `text` instead of a copy.
 * A worker thread parsing a 256 KiB document holds its text once, not twice: half the fresh
 * memory, about half the time. The text's long literals are found by a scan of its quotes, the
 * rest (short) is parsed with each long literal replaced by a placeholder, and the placeholders
 * are replaced by the slices. Anything unexpected (a placeholder not found once as a string value:
 * a long key, a duplicate key, the text's own top-level string) parses the text as it is.
 */
export function parseJson(text: string): unknown {
  const literals = text.length < SHARED_STRING_CHARS || text.includes('\\u0000') ? [] : longLiterals(text);
  if (literals.length > 0) {
    try {
      let rest = '';
      let from = 0;
      literals.forEach(([open, close], i) => {
        rest += `${text.slice(from, open)}"\\u0000long:${i}"`;
        from = close + 1;
      });
      rest += text.slice(from);
      const value: unknown = JSON.parse(rest);
      const strings = literals.map(([open, close]) => text.slice(open + 1, close));
      if (restore(value, strings) === strings.length) return value;
    } catch {
      // The text as it is decides: its value, or its own error (with its own positions).
    }
  }
  return JSON.parse(text);
}

/**
 * Where the text's long string literals are, each as the indexes of its two quotes: each run of
 * `SHARED_STRING_CHARS` or more characters between two quotes that holds no backslash and no
 * control character (which JSON does not allow raw: left in the text, JSON.parse says so). The
 * scan does not follow what is in a string and what is not, so a run between two strings (`"a"`,
 * 70,000 spaces, `"b"`) looks like a literal to it. Its replacement makes the rest invalid (its
 * placeholder's opening quote closes the string before, and a backslash follows, outside any
 * string), so the text is then parsed as it is; a run whose first quote is escaped puts its
 * placeholder inside a string, where it is not found.
 */
function longLiterals(text: string): [number, number][] {
  const literals: [number, number][] = [];
  let backslash = text.indexOf('\\');
  for (let open = text.indexOf('"'); open !== -1;) {
    // A quote within SHARED_STRING_CHARS of this one ends every run that starts before it.
    const last = text.lastIndexOf('"', open + SHARED_STRING_CHARS);
    if (last > open) {
      open = last;
      continue;
    }
    const close = text.indexOf('"', open + 1);
    if (close === -1) break;
    // The next backslash from here on: searched again only once the scan has passed it.
    if (backslash !== -1 && backslash < open) backslash = text.indexOf('\\', open);
    if ((backslash === -1 || backslash > close) && !CONTROL.test(text.slice(open + 1, close))) {
      literals.push([open, close]);
      open = text.indexOf('"', close + 1);
    } else open = close;
  }
  return literals;
}

/** Puts each string in place of its placeholder in `value`; says how many it put. */
function restore(value: unknown, strings: readonly string[]): number {
  let restored = 0;
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const fields = node as Record<string, unknown>;
    for (const key of Array.isArray(node) ? node.keys() : Object.keys(node)) {
      if (restored === strings.length) return;
      const field = fields[key];
      if (typeof field === 'string') {
        if (!field.startsWith(PLACEHOLDER)) continue;
        // defineProperty: an own `__proto__` key (JSON.parse makes one) stays a property.
        Object.defineProperty(node, key, {
          value: strings[Number(field.slice(PLACEHOLDER.length))],
          enumerable: true,
          writable: true,
          configurable: true,
        });
        restored++;
      } else visit(field);
    }
  };
  visit(value);
  return restored;
}
