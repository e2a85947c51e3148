/**
 * bank_stmt_v1: cash-flow factors from monthly bank statements.
 *
 * Reads the documents whose `document_type` is `bank_statement`. Their `metadata`:
 *
 * | field | required | value |
 * | --- | --- | --- |
 * | `account_number` | yes | text (or a whole number) |
 * | `statement_month` | yes | `YYYY-MM` |
 * | `ending_balance` | yes | amount |
 * | `total_deposits` | yes | amount |
 * | `total_withdrawals` | yes | amount |
 * | `beginning_balance` | no | amount; enables the reconciliation check |
 * | `average_daily_balance` | no | amount; else the mean of beginning and ending balance (or ending) |
 * | `nsf_count` | no | whole number of non-sufficient-funds events; 0 when absent |
 *
 * An amount is a number or a numeric string (`"12500.5"`, `"$12,500.50"`, `"-20"`). A missing
 * required field or a value that cannot be parsed fails the run with a message naming the
 * document and the field. The same account and month in several documents counts once (the
 * first document wins). Account numbers never appear in the factors.
 *
 * Factors: see {@link BankStatementFactors}. Fails when the underwriting has no bank statement.
 *
 * @packageDocumentation
 */
import { defineProcessor } from '@processor-orchestrator/sdk';

import { analyzeStatements, type BankStatementFactors } from './analysis.js';
import { BANK_STATEMENT, readStatement, uniqueStatements } from './statement.js';

export default defineProcessor({
  id: 'bank_stmt_v1',
  version: '1.0.0',
  execute(ctx): { factors: BankStatementFactors } {
    const documents = ctx.documents.filter((d) => d.document_type === BANK_STATEMENT);
    if (documents.length === 0) {
      throw new Error(`no ${BANK_STATEMENT} documents among the ${ctx.documents.length} documents`);
    }
    const statements = uniqueStatements(documents.map(readStatement));
    ctx.log.debug(
      { statements: statements.length, duplicates: documents.length - statements.length },
      'bank statements read',
    );
    return { factors: analyzeStatements(statements) };
  },
});
