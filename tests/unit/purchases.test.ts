import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadPurchases, purchasedProcessors } from '../../src/purchases.js';

async function file(text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'purchases-')), 'purchases.json');
  await writeFile(path, text);
  return path;
}

const installed = ['a_v1', 'b_v1', 'c_v1'];

describe('purchasedProcessors', () => {
  const purchases = new Map([['org_42', ['b_v1', 'x_v9']]]);

  it("uses the event's own list first, each id once", () => {
    const data = {
      underwriting_id: 'u',
      documents: [],
      organization_id: 'org_42',
      purchased_processors: ['c_v1', 'c_v1', 'a_v1'],
    };
    expect(purchasedProcessors(data, purchases, installed)).toEqual(['c_v1', 'a_v1']);
  });

  it('takes an empty list in the event at its word: nothing purchased', () => {
    const data = { underwriting_id: 'u', documents: [], organization_id: 'org_42', purchased_processors: [] };
    expect(purchasedProcessors(data, purchases, installed)).toEqual([]);
  });

  it("else the organization's list from the purchases file", () => {
    const data = { underwriting_id: 'u', documents: [], organization_id: 'org_42' };
    expect(purchasedProcessors(data, purchases, installed)).toEqual(['b_v1', 'x_v9']);
  });

  it('else every installed processor, also for an unknown or prototype-named organization', () => {
    for (const organization_id of [undefined, 'org_7', '__proto__', 'constructor', 'toString']) {
      const data = { underwriting_id: 'u', documents: [], organization_id };
      expect(purchasedProcessors(data, purchases, installed)).toEqual(installed);
    }
  });
});

describe('loadPurchases', () => {
  it('reads organization lists into a map', async () => {
    const purchases = await loadPurchases(await file('{"org_42":["bank_stmt_v1"],"__proto__":["evil_v1"]}'));
    expect(purchases.get('org_42')).toEqual(['bank_stmt_v1']);
    expect(({} as Record<string, unknown>)['0']).toBeUndefined();
  });

  it('has nothing when no file is configured', async () => {
    expect((await loadPurchases(undefined)).size).toBe(0);
  });

  it.each([
    ['not json', /^PURCHASES_FILE: \S*purchases\.json is not JSON \(/],
    ['{"org_42":"bank_stmt_v1"}', /^PURCHASES_FILE: \S*purchases\.json is not valid: org_42: /],
    ['{"org_42":["Bad Id"]}', /^PURCHASES_FILE: \S*purchases\.json is not valid: org_42\.0: /],
  ])('refuses %s with a line naming the variable', async (text, message) => {
    const rejection = expect(loadPurchases(await file(text))).rejects;
    await rejection.toMatchObject({ code: 'PURCHASES_INVALID' });
    // toMatchObject does not compare an Error's message: toThrow does.
    await rejection.toThrow(message);
  });

  it('refuses a file that does not exist with a line naming the variable', async () => {
    await expect(loadPurchases('/nonexistent/purchases.json')).rejects.toThrow(
      /^PURCHASES_FILE: \/nonexistent\/purchases\.json does not exist$/,
    );
  });
});
