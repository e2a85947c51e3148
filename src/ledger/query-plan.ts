// How a filter of published executions becomes one Firestore query, and the composite index that
// query needs. The Firestore ledger builds its query from the plan; deploy/setup.sh creates the
// indexes, and a test checks every plan's index against setup.sh's list (tests/unit/query-plan.test.ts).
//
// A query has at most one equality (`state`, `overall_status` or `has_timeout`), at most one
// `array-contains` (`processor_ids`, or `outcome_tags` for a processor's outcome and error code)
// and one order: by `completed_at` (a time range on it), or, for an underwriting id prefix, by
// `underwriting_id` (the prefix is its range; time is then checked on each document read). Text in
// an error message cannot be indexed: it is checked on each document read (`residual`), as is
// everything that is not in the query.
import { outcomeOf, type ExecutionFilter } from './history.js';

export interface QueryPlan {
  equal: { field: 'state' | 'overall_status' | 'has_timeout'; value: string | boolean } | undefined;
  contains: { field: 'processor_ids' | 'outcome_tags'; value: string } | undefined;
  /** `completed_at`: newest first, with the filter's time range; `underwriting_id`: the prefix's range, ascending. */
  order: 'completed_at' | 'underwriting_id';
  /** Whether some of the filter is checked only on the documents read (not by the query). */
  residual: boolean;
}

/** The one query a filter runs as. */
export function planQuery(filter: ExecutionFilter): QueryPlan {
  const outcome = outcomeOf(filter);
  const who = filter.processor ?? '*';
  let contains: QueryPlan['contains'];
  if (filter.errorCode !== undefined)
    contains = { field: 'outcome_tags', value: `${who}/failed/${filter.errorCode}` };
  else if (outcome !== undefined) contains = { field: 'outcome_tags', value: `${who}/${outcome}` };
  else if (filter.processor !== undefined) contains = { field: 'processor_ids', value: filter.processor };

  if (filter.underwritingPrefix !== undefined) {
    // The prefix is the query's range; everything else is checked on what it reads.
    return { equal: undefined, contains: undefined, order: 'underwriting_id', residual: true };
  }
  let equal: QueryPlan['equal'];
  if (filter.status === 'timeout') equal = { field: 'has_timeout', value: true };
  else if (filter.status !== undefined) equal = { field: 'overall_status', value: filter.status };
  else if (contains === undefined) equal = { field: 'state', value: 'published' };
  return { equal, contains, order: 'completed_at', residual: filter.errorText !== undefined };
}

/**
 * The composite index a plan's query needs, as `deploy/setup.sh` writes it (`field:ascending`,
 * `field:descending`, `field:contains`), in order; every one ends with the order's fields.
 */
export function indexOf(plan: QueryPlan): string[] {
  if (plan.order === 'underwriting_id') return ['underwriting_id:ascending', 'completed_at:descending'];
  return [
    ...(plan.equal ? [`${plan.equal.field}:ascending`] : []),
    ...(plan.contains ? [`${plan.contains.field}:contains`] : []),
    'completed_at:descending',
  ];
}

/** The other composite index the ledger queries with: an underwriting's executions, newest first. */
export const UNDERWRITING_HISTORY_INDEX = ['underwriting_id:ascending', 'created_at:descending'];
