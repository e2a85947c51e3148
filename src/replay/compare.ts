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
 * `path: expected X, got Y`. Empty when they match.
 */
export function differences(expected: unknown, actual: unknown): string[] {
  const lines: string[] = [];
  const walk = (path: string, e: unknown, a: unknown) => {
    const bothArrays = Array.isArray(e) && Array.isArray(a);
    const bothObjects = isObject(e) && isObject(a);
    if (bothArrays) {
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

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
