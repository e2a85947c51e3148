import type { Statement } from './statement.js';

/** What bank_stmt_v1 reports. Amounts are dollars rounded to cents; a month sums every account. */
export type BankStatementFactors = {
  statements_analyzed: number;
  accounts_analyzed: number;
  months_analyzed: number;
  first_month: string;
  last_month: string;
  /** Months between the first and the last with no statement of any account. */
  missing_months: string[];
  /** Average of the months' deposits. */
  monthly_revenue: number;
  /** Average of the months' withdrawals. */
  monthly_withdrawals: number;
  /** Average of the months' balances: average daily balance, else the mean of beginning and ending. */
  average_balance: number;
  nsf_count: number;
  /** Months in which at least one account ended below zero. */
  negative_balance_months: number;
  /**
   * (last month's deposits − first month's) / first month's, to 4 decimals; null with a single
   * month, or when nothing was deposited in the first.
   */
  revenue_trend: number | null;
  /**
   * Statements whose beginning balance + deposits − withdrawals misses their ending balance by a cent
   * or more.
   */
  unreconciled_statements: number;
};

interface MonthTotals {
  month: string;
  deposits: number;
  withdrawals: number;
  balance: number;
  negative: boolean;
}

/** Cash-flow factors of distinct statements (see `uniqueStatements`); there must be at least one. */
export function analyzeStatements(statements: readonly Statement[]): BankStatementFactors {
  const totals = new Map<string, MonthTotals>();
  for (const s of statements) {
    const t = totals.get(s.month) ?? {
      month: s.month,
      deposits: 0,
      withdrawals: 0,
      balance: 0,
      negative: false,
    };
    t.deposits += s.totalDeposits;
    t.withdrawals += s.totalWithdrawals;
    t.balance += balanceOf(s);
    t.negative ||= s.endingBalance < 0;
    totals.set(s.month, t);
  }
  const months = [...totals.values()].sort((a, b) => a.month.localeCompare(b.month));
  const first = months[0];
  const last = months.at(-1);
  if (!first || !last) throw new Error('no bank statements to analyze');

  return {
    statements_analyzed: statements.length,
    accounts_analyzed: new Set(statements.map((s) => s.accountNumber)).size,
    months_analyzed: months.length,
    first_month: first.month,
    last_month: last.month,
    missing_months: monthsBetween(first.month, last.month).filter((m) => !totals.has(m)),
    monthly_revenue: cents(mean(months.map((m) => m.deposits))),
    monthly_withdrawals: cents(mean(months.map((m) => m.withdrawals))),
    average_balance: cents(mean(months.map((m) => m.balance))),
    nsf_count: statements.reduce((sum, s) => sum + s.nsfCount, 0),
    negative_balance_months: months.filter((m) => m.negative).length,
    revenue_trend:
      months.length < 2 || first.deposits === 0
        ? null
        : round((last.deposits - first.deposits) / first.deposits, 4),
    unreconciled_statements: statements.filter(unreconciled).length,
  };
}

function balanceOf(s: Statement): number {
  if (s.averageDailyBalance !== null) return s.averageDailyBalance;
  return s.beginningBalance === null ? s.endingBalance : (s.beginningBalance + s.endingBalance) / 2;
}

function unreconciled(s: Statement): boolean {
  if (s.beginningBalance === null) return false;
  const expected = s.beginningBalance + s.totalDeposits - s.totalWithdrawals;
  return Math.abs(cents(expected) - cents(s.endingBalance)) >= 0.01;
}

/** Every `YYYY-MM` from `from` to `to`, both included. */
export function monthsBetween(from: string, to: string): string[] {
  const months: string[] = [];
  for (let i = monthIndex(from); i <= monthIndex(to); i++) {
    months.push(`${Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, '0')}`);
  }
  return months;
}

// Months since year 0: `2024-01` → 24288.
function monthIndex(month: string): number {
  const [year = 0, number = 1] = month.split('-').map(Number);
  return year * 12 + number - 1;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function cents(value: number): number {
  return round(value, 2);
}

// `+ 0` turns -0 into 0, so that a rounded tiny negative prints as 0.
function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor + 0;
}
