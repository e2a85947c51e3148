// `GET /ops`: the banner of paused processors and open circuits, the processors table, the runs
// found by a plain GET form (works without script; processor, status, outcome, error code, error
// text, time range, underwriting id prefix) paged by cursor, the recent bulk re-runs and the
// latest operator actions.
import { FAILURE_CODES } from '../events/processing-completed.js';
import { html, type SafeHtml } from './html.js';
import { auditSection } from './page-audit.js';
import { jobsSection } from './page-jobs.js';
import { OPS_PAGE, duration, elapsed, layout, listHref, statusBadge, time } from './page-layout.js';
import { banner, processorsTable } from './page-processors.js';
import type {
  AuditPage,
  ExecutionPage,
  ExecutionQuery,
  ExecutionView,
  JobsView,
  OpsIdentity,
  ProcessorsView,
} from './views.js';

/** The status filter's choices, as `ExecutionQuery['status']` spells them. */
const STATUS_CHOICES = [
  ['', 'any status'],
  ['failed', 'failed'],
  ['partial_success', 'partial success'],
  ['timeout', 'has a timeout'],
  ['success', 'success'],
] as const;

const OUTCOME_CHOICES = [
  ['', 'any'],
  ['failed', 'failed'],
  ['timeout', 'timed out'],
] as const;

export interface ListPageInput {
  identity: OpsIdentity | undefined;
  query: ExecutionQuery;
  page: ExecutionPage;
  processors: ProcessorsView;
  jobs: JobsView;
  audit: AuditPage;
  /** Set when the filters could not be read: shown above the (unfiltered) list. */
  problem?: string | undefined;
}

/** The filters of a query, as the list's query string names them. */
function filtersOf(query: ExecutionQuery): Record<string, string | undefined> {
  return {
    status: query.status,
    processor: query.processor,
    outcome: query.outcome,
    error_code: query.error_code,
    error: query.error,
    underwriting: query.underwriting,
    since: query.since,
    until: query.until,
  };
}

function processorCounts(execution: ExecutionView): SafeHtml {
  const count = (status: string) => execution.processors.filter((p) => p.status === status).length;
  const parts = (['completed', 'failed', 'timeout'] as const)
    .map((status) => [status, count(status)] as const)
    .filter(([, n]) => n > 0);
  if (parts.length === 0) return html`<span class="muted">none yet</span>`;
  return html`${parts.map(([status, n], i) => html`${i > 0 ? ' · ' : ''}<span class="nowrap c-${status}">${n} ${status}</span>`)}`;
}

function executionRow(execution: ExecutionView): SafeHtml {
  const failing = execution.processors.filter((p) => p.status !== 'completed').map((p) => p.processor_id);
  return html`<tr>
    <th scope="row">
      <a href="${OPS_PAGE.detail(execution.underwriting_id)}">${execution.underwriting_id}</a>
    </th>
    <td>
      ${statusBadge(execution.overall_status)}${execution.rerun ? html` <span class="badge b-rerun">re-run</span>` : ''}
    </td>
    <td>${time(execution.received_at)}</td>
    <td class="num">${duration(elapsed(execution.received_at, execution.finished_at))}</td>
    <td>
      ${processorCounts(execution)}${failing.length > 0 ? html`<div class="small muted">not completed: ${failing.join(', ')}</div>` : ''}
    </td>
    <td class="num">${execution.deliveries}</td>
    <td class="mono small">${execution.key}</td>
  </tr>`;
}

function choice(value: string, label: string, chosen: string | undefined): SafeHtml {
  return html`<option value="${value}" ${(chosen ?? '') === value ? html` selected` : ''}>${label}</option>`;
}

/** A `datetime-local` field's value (UTC, to the minute) of an ISO time. */
const local = (iso: string | undefined) => (iso ? iso.slice(0, 16) : '');

function filtersForm(input: ListPageInput): SafeHtml {
  const { query, processors } = input;
  const field = (id: string, label: string, control: SafeHtml) =>
    html`<div><label for="${id}">${label}</label>${control}</div>`;
  return html`<form method="get" action="${OPS_PAGE.list}" class="card filters" aria-label="Find runs">
    ${field(
      'f-status',
      'Status',
      html`<select id="f-status" name="status">
        ${STATUS_CHOICES.map(([value, label]) => choice(value, label, query.status))}
      </select>`,
    )}
    ${field(
      'f-processor',
      'Processor',
      html`<input
          id="f-processor"
          name="processor"
          type="text"
          list="f-processors"
          value="${query.processor ?? ''}"
          placeholder="any processor"
          autocomplete="off"
          spellcheck="false"
        />
        <datalist id="f-processors">
          ${processors.processors.map((p) => html`<option value="${p.processor_id}"></option>`)}
        </datalist>`,
    )}
    ${field(
      'f-outcome',
      "Processor's outcome",
      html`<select id="f-outcome" name="outcome">
        ${OUTCOME_CHOICES.map(([value, label]) => choice(value, label, query.outcome))}
      </select>`,
    )}
    ${field(
      'f-code',
      'Error code',
      html`<select id="f-code" name="error_code">
        ${choice('', 'any', query.error_code)} ${FAILURE_CODES.map((c) => choice(c, c, query.error_code))}
      </select>`,
    )}
    ${field(
      'f-error',
      'Error message contains',
      html`<input id="f-error" name="error" type="text" value="${query.error ?? ''}" maxlength="200" />`,
    )}
    ${field(
      'f-underwriting',
      'Underwriting id starts with',
      html`<input
        id="f-underwriting"
        name="underwriting"
        type="text"
        value="${query.underwriting ?? ''}"
        maxlength="200"
        spellcheck="false"
      />`,
    )}
    ${field(
      'f-since',
      'Completed since (UTC)',
      html`<input id="f-since" name="since" type="datetime-local" value="${local(query.since)}" />`,
    )}
    ${field(
      'f-until',
      'until (UTC)',
      html`<input id="f-until" name="until" type="datetime-local" value="${local(query.until)}" />`,
    )}
    <div>
      <button type="submit">Apply</button> <a class="button secondary" href="${OPS_PAGE.list}">Reset</a>
    </div>
  </form>`;
}

function executionsTable(input: ListPageInput): SafeHtml {
  const { query, page } = input;
  const filters = filtersOf(query);
  const described = [
    query.status && `status ${query.status.replace('_', ' ')}`,
    query.processor && `processor ${query.processor}`,
    query.outcome && `${query.processor ?? 'a processor'} ${query.outcome}`,
    query.error_code && `code ${query.error_code}`,
    query.error && `an error containing "${query.error}"`,
    query.underwriting && `underwriting id starting with ${query.underwriting}`,
    query.since && `completed since ${query.since}`,
    query.until && `until ${query.until}`,
  ].filter(Boolean);
  return html`<section class="card" aria-labelledby="recent">
    <h2 id="recent">Recent underwritings</h2>
    ${
      page.executions.length === 0
        ? html`<p class="empty">
            No execution matches${described.length ? ` ${described.join(' and ')}` : ''}.
          </p>`
        : html`<table>
            <caption>
              ${query.underwriting ? 'By underwriting id, then newest' : 'Newest'}
              first${described.length ? `, ${described.join(', ')}` : ''}${query.cursor ? ', continued' : ''}.
            </caption>
            <thead>
              <tr>
                <th scope="col">Underwriting</th>
                <th scope="col">Status</th>
                <th scope="col">Received</th>
                <th scope="col" class="num">Took</th>
                <th scope="col">Processors</th>
                <th scope="col" class="num">Deliveries</th>
                <th scope="col">Execution key</th>
              </tr>
            </thead>
            <tbody>
              ${page.executions.map(executionRow)}
            </tbody>
          </table>`
    }
    <nav class="paging" aria-label="Pages">
      ${query.cursor ? html`<a class="button secondary" href="${listHref(filters)}">First page</a>` : ''}
      ${page.next_cursor ? html`<a class="button secondary" href="${listHref({ ...filters, cursor: page.next_cursor })}" rel="next">Older underwritings</a>` : ''}
    </nav>
  </section>`;
}

/** The whole list page. */
export function listPage(input: ListPageInput): string {
  return layout({
    title: 'Operations',
    identity: input.identity,
    body: html`<h1>Operations</h1>
      ${banner(input.processors)}
      ${input.problem ? html`<div class="notice error" role="alert"><p>${input.problem}</p></div>` : ''}
      ${processorsTable(input.processors)}
      <h2>Find runs</h2>
      ${filtersForm(input)} ${executionsTable(input)} ${jobsSection(input.jobs)} ${auditSection(input.audit)}`,
  });
}
