import { z } from 'zod';

// The kinds of value an environment variable holds, shared by the sections. Every message names
// what is expected; the variable's name comes from the issue's path (`VARIABLE: problem`).

// An empty variable (`FOO=` in a shell or a Docker env file) means "not set".
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);

/** Unset or empty: `undefined`; else checked by `schema`. */
export function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess(unsetIfEmpty, schema.optional());
}

/** Unset or empty: `fallback`, checked by `schema` like any value. */
export function withDefault<T extends z.ZodType>(fallback: string | number, schema: T) {
  return z.preprocess((v) => (v === '' || v === undefined ? String(fallback) : v), schema);
}

export const optionalString = optional(z.string());

export function wholeNumber(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

export const integer = (min: number, max: number, fallback: number) =>
  withDefault(fallback, wholeNumber(min, max));

/** One of `values`, spelled exactly. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
}

/** One of `values`, in any case; the value is lower-cased. */
export function oneOfAnyCase<const T extends readonly [string, ...string[]]>(values: T, error: string) {
  return z.string().toLowerCase().pipe(z.enum(values, { error }));
}

export const hostPort = optional(
  z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port, e.g. localhost:8085'),
);

// A topic or subscription: its short name (3–255 characters, starting with a letter) or its
// full `projects/P/topics/T` (`…/subscriptions/S`) name.
const RESOURCE_NAME = /^(projects\/[a-z][a-z0-9-:.]*\/(topics|subscriptions)\/)?[A-Za-z][\w\-.~+%]{2,254}$/;
export const resourceName = z
  .string()
  .regex(RESOURCE_NAME, 'must be a Pub/Sub name: 3–255 letters, digits or -_.~+%, starting with a letter');

/** An http(s) URL, without its trailing slashes. */
export const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .transform((url) => url.replace(/\/+$/, ''));

export const issuerList = z
  .string()
  .transform((s) => s.split(',').map((issuer) => issuer.trim()))
  .pipe(z.array(z.string().min(1, 'must be a comma-separated list of issuers')));

/**
 * A section's cross-field rules run once its own fields have parsed: they see typed values, and a
 * bad value is reported alone rather than with a rule that read it.
 */
export const ONCE_FIELDS_PARSE = {
  when: (payload: { issues: readonly unknown[] }) => payload.issues.length === 0,
};

/** A cross-field rule's refusal: `VARIABLE: message`, told apart from a bad value by `isRule`. */
export function refuse(ctx: z.RefinementCtx, variable: string, message: string): void {
  ctx.addIssue({ code: 'custom', path: [variable], message, params: { rule: true } });
}

export function isRule(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'custom' && issue.params?.['rule'] === true;
}
