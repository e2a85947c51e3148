import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import type { Document, ProcessorContext } from '@processor-orchestrator/sdk';
import { runProcessor } from '@processor-orchestrator/testing';

import bankStatement from './index.js';
import { monthsBetween } from './analysis.js';

function context(documents: Document[]): ProcessorContext {
  return {
    underwritingId: 'uw_test',
    executionId: '01J0000000000000000000000A',
    documents,
    missingDocuments: [],
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
  };
}

function statement(id: string, metadata: Record<string, unknown>): Document {
  return {
    document_id: id,
    document_type: 'bank_statement',
    metadata: {
      account_number: '123456789',
      beginning_balance: 1000,
      ending_balance: 1000,
      total_deposits: 0,
      total_withdrawals: 0,
      ...metadata,
    },
  };
}

const run = (documents: Document[]) => bankStatement.execute(context(documents)).factors;

const threeMonths = [
  statement('d1', {
    statement_month: '2024-01',
    beginning_balance: 1000,
    total_deposits: 10000,
    total_withdrawals: 8000,
    ending_balance: 3000,
    average_daily_balance: 2000,
    nsf_count: 1,
  }),
  statement('d2', {
    statement_month: '2024-02',
    beginning_balance: 3000,
    total_deposits: 12000,
    total_withdrawals: 15500,
    ending_balance: -500,
    average_daily_balance: 1500,
    nsf_count: 2,
  }),
  statement('d3', {
    statement_month: '2024-03',
    beginning_balance: -500,
    total_deposits: 14000.5,
    total_withdrawals: 9000,
    ending_balance: 4500.5,
    average_daily_balance: 2500,
  }),
];

describe('bank_stmt_v1', () => {
  it('sums deposits into monthly revenue', () => {
    expect(run(threeMonths).monthly_revenue).toBe(12000.17);
  });

  it('reports the months, accounts and statements it analyzed', () => {
    const factors = run(threeMonths);
    expect(factors).toMatchObject({
      statements_analyzed: 3,
      accounts_analyzed: 1,
      months_analyzed: 3,
      first_month: '2024-01',
      last_month: '2024-03',
      missing_months: [],
    });
  });

  it('averages withdrawals and balances per month', () => {
    const factors = run(threeMonths);
    expect(factors.monthly_withdrawals).toBe(10833.33);
    expect(factors.average_balance).toBe(2000);
  });

  it('totals NSF events and counts months that ended negative', () => {
    const factors = run(threeMonths);
    expect(factors.nsf_count).toBe(3);
    expect(factors.negative_balance_months).toBe(1);
  });

  it('measures the revenue trend from the first month to the last', () => {
    expect(run(threeMonths).revenue_trend).toBe(0.4001);
  });

  it('orders months by date, not by document order', () => {
    const factors = run([...threeMonths].reverse());
    expect(factors.first_month).toBe('2024-01');
    expect(factors.revenue_trend).toBe(0.4001);
  });

  it('has no revenue trend with a single month or no deposits in the first month', () => {
    expect(run([threeMonths[0] as Document]).revenue_trend).toBeNull();
    const noDepositsFirst = [statement('a', { statement_month: '2024-01' }), threeMonths[1] as Document];
    expect(run(noDepositsFirst).revenue_trend).toBeNull();
  });

  it('adds accounts of the same month together', () => {
    const factors = run([
      statement('a1', {
        statement_month: '2024-05',
        total_deposits: 1000,
        ending_balance: -1,
        average_daily_balance: 300,
      }),
      statement('b1', {
        account_number: '999',
        statement_month: '2024-05',
        total_deposits: 2500,
        ending_balance: 4000,
        average_daily_balance: 700,
      }),
    ]);
    expect(factors).toMatchObject({
      accounts_analyzed: 2,
      months_analyzed: 1,
      statements_analyzed: 2,
      monthly_revenue: 3500,
      average_balance: 1000,
      negative_balance_months: 1,
    });
  });

  it('counts a statement of the same account and month once', () => {
    const duplicate = statement('d1-again', { statement_month: '2024-01', total_deposits: 99999 });
    const factors = run([...threeMonths, duplicate]);
    expect(factors.statements_analyzed).toBe(3);
    expect(factors.monthly_revenue).toBe(12000.17);
  });

  it('lists months without any statement between the first and the last', () => {
    const factors = run([
      statement('a', { statement_month: '2023-11', total_deposits: 100 }),
      statement('b', { statement_month: '2024-02', total_deposits: 100 }),
    ]);
    expect(factors.missing_months).toEqual(['2023-12', '2024-01']);
    expect(factors.months_analyzed).toBe(2);
  });

  it('reads amounts and counts given as numeric strings', () => {
    const factors = run([
      statement('s', {
        statement_month: '2024-01',
        beginning_balance: '$1,000.00',
        total_deposits: '12,500.50',
        total_withdrawals: '500',
        ending_balance: '13000.50',
        nsf_count: '2',
      }),
    ]);
    expect(factors.monthly_revenue).toBe(12500.5);
    expect(factors.nsf_count).toBe(2);
    expect(factors.unreconciled_statements).toBe(0);
  });

  it('falls back to the mean of beginning and ending balance without an average daily balance', () => {
    const factors = run([
      statement('s', { statement_month: '2024-01', beginning_balance: 1000, ending_balance: 3000 }),
    ]);
    expect(factors.average_balance).toBe(2000);
  });

  it('counts statements whose balances do not reconcile', () => {
    const factors = run([
      ...threeMonths,
      statement('off', { account_number: '2', statement_month: '2024-01', ending_balance: 1500 }),
      statement('no-beginning', {
        account_number: '3',
        statement_month: '2024-01',
        beginning_balance: null,
        ending_balance: 1500,
      }),
    ]);
    expect(factors.unreconciled_statements).toBe(1);
  });

  it('returns only JSON values', () => {
    const factors = run(threeMonths);
    expect(JSON.parse(JSON.stringify(factors))).toEqual(factors);
  });

  it('ignores documents of other types', () => {
    const other: Document = {
      document_id: 'tax',
      document_type: 'tax_return',
      metadata: { total_deposits: 'x' },
    };
    expect(run([...threeMonths, other]).statements_analyzed).toBe(3);
  });

  it('fails when there is no bank statement', () => {
    const other: Document = { document_id: 'tax', document_type: 'tax_return', metadata: {} };
    expect(() => run([other])).toThrow('no bank_statement documents among the 1 documents');
  });

  it('names the document and the field of an amount it cannot parse', () => {
    const bad = statement('doc_bad', { statement_month: '2024-01', total_deposits: '12.5k' });
    expect(() => run([bad])).toThrow('document doc_bad: total_deposits is not an amount: "12.5k"');
  });

  it('names the document and the field that is missing', () => {
    const bad = statement('doc_bad', { statement_month: '2024-01', ending_balance: undefined });
    expect(() => run([bad])).toThrow('document doc_bad: ending_balance is missing');
  });

  it('refuses a statement month that is not YYYY-MM', () => {
    const bad = statement('doc_bad', { statement_month: '2024-13' });
    expect(() => run([bad])).toThrow('document doc_bad: statement_month is not a month (YYYY-MM): "2024-13"');
  });

  it('refuses an NSF count that is not a whole number', () => {
    const bad = statement('doc_bad', { statement_month: '2024-01', nsf_count: 1.5 });
    expect(() => run([bad])).toThrow('document doc_bad: nsf_count is not a count: 1.5');
  });
});

describe('monthsBetween', () => {
  it('crosses a year boundary', () => {
    expect(monthsBetween('2023-11', '2024-02')).toEqual(['2023-11', '2023-12', '2024-01', '2024-02']);
  });
});

describe('bank_stmt_v1 through the test kit (a real worker thread)', () => {
  it('publishes the same factors as it computes in-process', async () => {
    const result = await runProcessor(bankStatement, { documents: threeMonths });
    expect(result).toMatchObject({
      status: 'completed',
      processor_id: 'bank_stmt_v1',
      factors: run(threeMonths),
    });
  });

  it('is FAILED, with the document and field named, on a statement it cannot read', async () => {
    const broken = statement('bad', { statement_month: '2024-13' });
    const result = await runProcessor(bankStatement, { documents: [broken] });
    expect(result).toMatchObject({
      status: 'failed',
      error_message: expect.stringContaining('bad') as string,
    });
  });
});
