import { readFile } from 'node:fs/promises';

import { z } from 'zod';

import { OrchestratorError, messageOf } from './errors.js';
import { ProcessorIdSchema, type UnderwritingCreated } from './events/underwriting-created.js';

const PurchasesFileSchema = z.record(z.string(), z.array(ProcessorIdSchema));

/** organization id → purchased processor ids. A Map, so no organization id can reach a prototype. */
export type Purchases = ReadonlyMap<string, readonly string[]>;

/** Reads `PURCHASES_FILE` (JSON `{ "org_42": ["bank_stmt_v1"] }`) once, at start. */
export async function loadPurchases(file: string | undefined): Promise<Purchases> {
  if (!file) return new Map();
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new OrchestratorError(
      'PURCHASES_INVALID',
      `PURCHASES_FILE: cannot read ${file}: ${messageOf(err)}`,
      {
        cause: err,
      },
    );
  }
  const parsed = PurchasesFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OrchestratorError(
      'PURCHASES_INVALID',
      `PURCHASES_FILE: ${file}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  // Object.entries reads own keys only, `__proto__` included, without touching any prototype.
  return new Map(Object.entries(parsed.data));
}

/**
 * The processor ids an event has purchased, each once, in order: the event's own list (even an
 * empty one); else its organization's list in the purchases file; else every installed one.
 */
export function purchasedProcessors(
  data: UnderwritingCreated['data'],
  purchases: Purchases,
  installed: Iterable<string>,
): string[] {
  const orgList = data.organization_id === undefined ? undefined : purchases.get(data.organization_id);
  return [...new Set(data.purchased_processors ?? orgList ?? installed)];
}
