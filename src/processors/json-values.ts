/**
 * Why `value` is not a JSON object of JSON values, with the path of the first offender, or
 * undefined when it is one. Factors are published as JSON, so a Date, a function, a Map, NaN
 * or a cycle would be silently changed or lost on the way: they are refused instead.
 */
export function jsonObjectProblem(value: unknown, path = 'factors'): string | undefined {
  if (!isPlainObject(value)) return `${path} must be an object, got ${describe(value)}`;
  return problemIn(value, path, new Set());
}

function problemIn(value: unknown, path: string, ancestors: Set<object>): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : `${path} is ${value}, not a finite number`;
  }
  if (typeof value !== 'object') return `${path} is ${describe(value)}, not a JSON value`;
  if (ancestors.has(value)) return `${path} refers back to itself (a cycle)`;
  if (!Array.isArray(value) && !isPlainObject(value)) {
    return `${path} is ${describe(value)}, not a JSON value`;
  }
  ancestors.add(value);
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [`[${i}]`, v])
    : Object.entries(value).map(([k, v]) => [`.${k}`, v]);
  for (const [key, child] of entries) {
    const problem = problemIn(child, `${path}${key}`, ancestors);
    if (problem) return problem;
  }
  ancestors.delete(value);
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'non-plain object'}`;
  return `a ${typeof value}`;
}
