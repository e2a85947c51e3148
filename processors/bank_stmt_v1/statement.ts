import type { Document } from '@processor-orchestrator/sdk';

/** The document type this processor reads. */
export const BANK_STATEMENT = 'bank_statement';

/** One month of one account, as read from the metadata of a `bank_statement` document. */
export interface Statement {
  readonly documentId: string;
  readonly accountNumber: string;
  /** `YYYY-MM`. */
  readonly month: string;
  readonly beginningBalance: number | null;
  readonly endingBalance: number;
  readonly totalDeposits: number;
  readonly totalWithdrawals: number;
  readonly averageDailyBalance: number | null;
  readonly nsfCount: number;
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
// 1234.5, -1234.50, $1,234.56, -$20: an optional sign and dollar sign, thousands separated by commas or not.
const AMOUNT = /^-?\$?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$/;
const COUNT = /^\d+$/;

/**
 * Reads a `bank_statement` document's metadata. Throws an Error naming the document and the field
 * when a required field is missing or a field cannot be parsed.
 */
export function readStatement(document: Document): Statement {
  const field = fieldReader(document);
  return {
    documentId: document.document_id,
    accountNumber: field.text('account_number'),
    month: field.month('statement_month'),
    beginningBalance: field.optionalAmount('beginning_balance'),
    endingBalance: field.amount('ending_balance'),
    totalDeposits: field.amount('total_deposits'),
    totalWithdrawals: field.amount('total_withdrawals'),
    averageDailyBalance: field.optionalAmount('average_daily_balance'),
    nsfCount: field.optionalCount('nsf_count') ?? 0,
  };
}

/** The same account and month in several documents (a re-upload) is one statement: the first is kept. */
export function uniqueStatements(statements: readonly Statement[]): Statement[] {
  const seen = new Map<string, Statement>();
  for (const statement of statements) {
    const key = `${statement.accountNumber}\u0000${statement.month}`;
    if (!seen.has(key)) seen.set(key, statement);
  }
  return [...seen.values()];
}

function fieldReader(document: Document) {
  const problem = (name: string, what: string) =>
    new Error(`document ${document.document_id}: ${name} ${what}`);
  const present = (name: string): unknown => {
    const value = document.metadata[name];
    return value === null || value === undefined || value === '' ? undefined : value;
  };
  const required = (name: string): unknown => {
    const value = present(name);
    if (value === undefined) throw problem(name, 'is missing');
    return value;
  };
  const parseAmount = (name: string, value: unknown): number => {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (typeof value === 'string' && AMOUNT.test(value.trim()))
      return Number(value.trim().replace(/[$,]/g, ''));
    throw problem(name, `is not an amount: ${JSON.stringify(value)}`);
  };

  return {
    text(name: string): string {
      const value = required(name);
      if (typeof value === 'string' && value.trim() !== '') return value.trim();
      if (typeof value === 'number' && Number.isInteger(value)) return String(value);
      throw problem(name, `is not text: ${JSON.stringify(value)}`);
    },
    month(name: string): string {
      const value = required(name);
      if (typeof value === 'string' && MONTH.test(value.trim())) return value.trim();
      throw problem(name, `is not a month (YYYY-MM): ${JSON.stringify(value)}`);
    },
    amount(name: string): number {
      return parseAmount(name, required(name));
    },
    optionalAmount(name: string): number | null {
      const value = present(name);
      return value === undefined ? null : parseAmount(name, value);
    },
    optionalCount(name: string): number | null {
      const value = present(name);
      if (value === undefined) return null;
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
      if (typeof value === 'string' && COUNT.test(value.trim())) return Number(value.trim());
      throw problem(name, `is not a count: ${JSON.stringify(value)}`);
    },
  };
}
