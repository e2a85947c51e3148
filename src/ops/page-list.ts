// `GET /ops`: recent underwritings, filterable with a plain GET form (works without script), paged
// by cursor; and the per-processor stats table.
import { html, type SafeHtml } from './html.js';
import { OPS_PAGE, duration, elapsed, layout, percent, statusBadge, time } from './page-layout.js';
import {
  STATS_WINDOWS,
  type ExecutionPage,
  type ExecutionQuery,
  type ExecutionView,
  type OpsIdentity,
  type StatsView,
  type StatsWindow,
} from './views.js';

/** The status filter's choices, as `ExecutionQuery['status']` spells them. */
const STATUS_CHOICES = [
  ['', 'any status'],
  ['failed', 'failed'],
  ['partial_success', 'partial success'],
  ['timeout', 'has a timeout'],
  ['success', 'success'],
] as const;

export interface ListPageInput {
  identity: OpsIdentity | undefined;
  query: ExecutionQuery;
  window: StatsWindow;
  page: ExecutionPage;
  stats: StatsView;
  /** Set when the filters could not be read: shown above the (unfiltered) list. */
  problem?: string;
}

/** The query string of the list with these filters (empty ones left out). */
export function listHref(filters: {
  status?: string;
  processor?: string;
  window?: string;
  cursor?: string;
}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
  const search = params.toString();
  return search ? `${OPS_PAGE.list}?${search}` : OPS_PAGE.list;
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

function filtersForm(input: ListPageInput): SafeHtml {
  const { query, window, stats } = input;
  return html`<form
    method="get"
    action="${OPS_PAGE.list}"
    class="card filters"
    aria-label="Filter recent underwritings"
  >
    <div>
      <label for="f-status">Status</label>
      <select id="f-status" name="status">
        ${STATUS_CHOICES.map(([value, label]) => html`<option value="${value}" ${(query.status ?? '') === value ? html` selected` : ''}>${label}</option>`)}
      </select>
    </div>
    <div>
      <label for="f-processor">Processor</label>
      <input
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
        ${stats.processors.map((p) => html`<option value="${p.processor_id}"></option>`)}
      </datalist>
    </div>
    <div>
      <label for="f-window">Stats window</label>
      <select id="f-window" name="window">
        ${STATS_WINDOWS.map((w) => html`<option value="${w}" ${w === window ? html` selected` : ''}>last ${w}</option>`)}
      </select>
    </div>
    <div>
      <button type="submit">Apply</button> <a class="button secondary" href="${OPS_PAGE.list}">Reset</a>
    </div>
  </form>`;
}

function executionsTable(input: ListPageInput): SafeHtml {
  const { query, window, page } = input;
  const filters = { status: query.status, processor: query.processor, window };
  const described = [
    query.status && `status ${query.status.replace('_', ' ')}`,
    query.processor && `processor ${query.processor}`,
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
              Newest
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

function statsTable(stats: StatsView): SafeHtml {
  const { sample } = stats;
  return html`<section class="card" aria-labelledby="stats">
    <h2 id="stats">Processors, last ${stats.window}</h2>
    <p class="small muted">
      ${stats.in_flight} event${stats.in_flight === 1 ? '' : 's'} in flight on this instance. From
      ${sample.executions}
      execution${sample.executions === 1 ? '' : 's'}${sample.truncated ? ` (the most recent ${sample.limit}; older ones are not counted)` : ''},
      as of ${time(sample.as_of)}.
    </p>
    ${
      stats.processors.length === 0
        ? html`<p class="empty">No processor ran in this window.</p>`
        : html`<table>
            <thead>
              <tr>
                <th scope="col">Processor</th>
                <th scope="col" class="num">Runs</th>
                <th scope="col" class="num">Completed</th>
                <th scope="col" class="num">Failed</th>
                <th scope="col" class="num">Timeout</th>
                <th scope="col" class="num">p50 run time</th>
                <th scope="col" class="num">p95 run time</th>
              </tr>
            </thead>
            <tbody>
              ${stats.processors.map(
                (p) =>
                  html`<tr>
                    <th scope="row">
                      <a href="${listHref({ processor: p.processor_id, window: stats.window })}"
                        >${p.processor_id}</a
                      >
                    </th>
                    <td class="num">${p.runs}</td>
                    <td class="num">${percent(p.completed_rate)}</td>
                    <td class="num">${percent(p.failed_rate)}</td>
                    <td class="num">${percent(p.timeout_rate)}</td>
                    <td class="num">${duration(p.p50_run_time)}</td>
                    <td class="num">${duration(p.p95_run_time)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}

/** The whole list page. */
export function listPage(input: ListPageInput): string {
  return layout({
    title: 'Operations',
    identity: input.identity,
    body: html`<h1>Operations</h1>
      ${input.problem ? html`<div class="notice error" role="alert"><p>${input.problem}</p></div>` : ''}
      ${filtersForm(input)} ${executionsTable(input)} ${statsTable(input.stats)}`,
  });
}
