// A thread's side of the runs' documents: parsed once per event, a copy per run.
import type { MissingDocument } from '../events/document.js';
import { decodeInput, type EncodedInput, type ParseDocument, type RunInput } from './run.js';

/** One run's documents: `get` decodes them on first use; `release` once the run has settled. */
export interface RunDocuments {
  get(): RunInput;
  release(): void;
  /** How long `get` took to give them, in ms (a parse, or a copy of the thread's parse). */
  readonly readMs: number;
}

/** How a run's documents are read: `parse` each one, and say which are not valid documents. */
export interface DocumentReader {
  parse: ParseDocument;
  /** Called once per parse that found documents that are not valid (they are given as missing). */
  invalid(documents: MissingDocument[]): void;
}

export interface ThreadInputs {
  take(encoded: EncodedInput, reader: DocumentReader): RunDocuments;
  /** Parses held now (one per event some run of this thread has read and not yet settled). */
  readonly held: number;
}

/**
 * The documents of the runs one thread hosts. The runs of one event on one thread share one parse,
 * held while any of them has read it and not settled; each run gets its own copy of its objects
 * and arrays, so what one processor changes in its documents no other sees. Strings are immutable,
 * so the copies share them: a 512 KiB event read by four runs of a thread is decoded and parsed
 * once, not four times. A run that never reads its documents pays for nothing.
 * A document that is not valid is said (`reader.invalid`) once per parse, so once per thread that
 * reads the event's documents.
 */
export function createThreadInputs(): ThreadInputs {
  const parses = new Map<string, { input: RunInput; holders: number }>();
  return {
    take(encoded, reader) {
      const decode = () => {
        const { input, invalid } = decodeInput(encoded, reader.parse);
        if (invalid.length > 0) reader.invalid(invalid);
        return input;
      };
      let copy: RunInput | undefined;
      let holds = false;
      let settled = false;
      let readMs = 0;
      return {
        get readMs() {
          return readMs;
        },
        get() {
          if (copy === undefined) {
            const from = performance.now();
            // A callback the run left behind reads after it settled: its own parse, held by no one.
            if (settled) return (copy = decode());
            let parse = parses.get(encoded.key);
            if (!parse) {
              parse = { input: decode(), holders: 0 };
              parses.set(encoded.key, parse);
            }
            parse.holders++;
            holds = true;
            copy = copyJson(parse.input);
            readMs = performance.now() - from;
          }
          return copy;
        },
        release() {
          settled = true;
          if (!holds) return;
          holds = false;
          const parse = parses.get(encoded.key);
          if (parse && --parse.holders === 0) parses.delete(encoded.key);
        },
      };
    },
    get held() {
      return parses.size;
    },
  };
}

/**
 * A copy of a JSON value with objects and arrays of its own and strings shared. An own
 * `__proto__` key (JSON.parse makes it an ordinary property) stays a property, not a prototype.
 */
export function copyJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  const source = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    const field = copyJson(source[key]);
    if (key === '__proto__') {
      Object.defineProperty(copy, key, {
        value: field,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else copy[key] = field;
  }
  return copy as T;
}
