/** What varies from run to run, ignored when results are compared (at any depth). */
export const VOLATILE_FIELDS = [
  'execution_id',
  'execution_time',
  'total_execution_time',
  'completed_at',
] as const;

const VOLATILE = new Set<string>(VOLATILE_FIELDS);

/** The value without its volatile fields. */
export function comparable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !VOLATILE.has(key))
        .map(([key, v]) => [key, comparable(v)]),
    );
  }
  return value;
}

const show = (value: unknown) => (value === undefined ? '(absent)' : JSON.stringify(value));

/**
 * Where `actual` differs from `expected`, volatile fields aside: one line per difference, as
 * `path: expected X, got Y`. Lists of processor entries are matched by `processor_id`, not by
 * position: one processor more reads `completed_processors: added x_v1`, one less `… removed
 * x_v1`, and a changed factor `completed_processors.x_v1.factors.n: expected 1, got 2`. Empty
 * when they match.
 */
export function differences(expected: unknown, actual: unknown): string[] {
  const lines: string[] = [];
  const walk = (path: string, e: unknown, a: unknown) => {
    const bothArrays = Array.isArray(e) && Array.isArray(a);
    const bothObjects = isObject(e) && isObject(a);
    if (bothArrays && isEntryList(e) && isEntryList(a)) {
      const actualById = new Map(a.map((entry) => [entry[ID], entry]));
      const expectedIds = new Set(e.map((entry) => entry[ID]));
      for (const entry of e) {
        const other = actualById.get(entry[ID]);
        if (other === undefined) lines.push(`${path}: removed ${entry[ID]}`);
        else walk(`${path}.${entry[ID]}`, entry, other);
      }
      for (const entry of a) if (!expectedIds.has(entry[ID])) lines.push(`${path}: added ${entry[ID]}`);
    } else if (bothArrays) {
      for (let i = 0; i < Math.max(e.length, a.length); i++) walk(`${path}[${i}]`, e[i], a[i]);
    } else if (bothObjects) {
      for (const key of new Set([...Object.keys(e), ...Object.keys(a)])) {
        walk(path ? `${path}.${key}` : key, e[key], a[key]);
      }
    } else if (JSON.stringify(e) !== JSON.stringify(a)) {
      lines.push(`${path || '(the whole result)'}: expected ${show(e)}, got ${show(a)}`);
    }
  };
  walk('', comparable(expected), comparable(actual));
  return lines;
}

const ID = 'processor_id';

// A list of processor entries, each naming its processor once.
function isEntryList(list: unknown[]): list is ({ [ID]: string } & Record<string, unknown>)[] {
  const ids = list.map((entry) => (isObject(entry) ? entry[ID] : undefined));
  return ids.every((id) => typeof id === 'string') && new Set(ids).size === ids.length;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
