import { formatIssues } from '../errors.js';
import { UnderwritingCreatedSchema, type UnderwritingCreated } from './underwriting-created.js';

/** Why a message is poison, in a word (the `error.type` of the dead-letter metric). */
export type PoisonKind = 'not_json' | 'unknown_event' | 'invalid_event';

export type Decoded =
  { ok: true; event: UnderwritingCreated } | { ok: false; kind: PoisonKind; reason: string };

/**
 * Message data → a valid `underwriting.created`, or the reason it is poison: not UTF-8 JSON, an
 * unknown `event`, or a body that fails the schema. Never throws.
 */
export function decodeEvent(data: Uint8Array | string): Decoded {
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch (err) {
    return { ok: false, kind: 'not_json', reason: `not JSON: ${(err as Error).message}` };
  }
  const event = (json as { event?: unknown } | null)?.event;
  if (event !== 'underwriting.created') {
    return {
      ok: false,
      kind: 'unknown_event',
      reason: `unknown event ${JSON.stringify(event) ?? 'undefined'}`,
    };
  }
  const parsed = UnderwritingCreatedSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      kind: 'invalid_event',
      reason: `invalid underwriting.created: ${formatIssues(parsed.error.issues)}`,
    };
  }
  return { ok: true, event: parsed.data };
}
