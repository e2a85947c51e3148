import { readFile } from 'node:fs/promises';

import { z } from 'zod';

import { OrchestratorError, formatIssues, unreadableReason } from './errors.js';
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
    const reason = err instanceof SyntaxError ? `is not JSON (${err.message})` : unreadableReason(err);
    throw new OrchestratorError('PURCHASES_INVALID', `PURCHASES_FILE: ${file} ${reason}`, { cause: err });
  }
  const parsed = PurchasesFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new OrchestratorError(
      'PURCHASES_INVALID',
      `PURCHASES_FILE: ${file} is not valid: ${formatIssues(parsed.error.issues)}`,
    );
  }
  // Object.entries reads own keys only, `__proto__` included, without touching any prototype.
  return new Map(Object.entries(parsed.data));
}

/** Where an event's list of processors came from. */
export type PurchaseSource = 'event' | 'organization' | 'installed';

/**
 * The processor ids an event has purchased, each once, in order, and where the list came from:
 * the event's own list (even an empty one); else its organization's list in the purchases file;
 * else every installed one.
 */
export function resolvePurchases(
  data: UnderwritingCreated['data'],
  purchases: Purchases,
  installed: Iterable<string>,
): { ids: string[]; source: PurchaseSource } {
  if (data.purchased_processors) return { ids: [...new Set(data.purchased_processors)], source: 'event' };
  const orgList = data.organization_id === undefined ? undefined : purchases.get(data.organization_id);
  if (orgList) return { ids: [...new Set(orgList)], source: 'organization' };
  return { ids: [...new Set(installed)], source: 'installed' };
}

/** The processor ids an event has purchased (see `resolvePurchases`). */
export function purchasedProcessors(
  data: UnderwritingCreated['data'],
  purchases: Purchases,
  installed: Iterable<string>,
): string[] {
  return resolvePurchases(data, purchases, installed).ids;
}
