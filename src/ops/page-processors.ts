// The processors on the page: the banner of paused processors and open circuits, the table (state,
// runs, failure and timeout rates, p95 over the last hour and day), and one processor's page with
// the operators' forms: pause or resume, and "re-run failed since…" with its dry-run count first.
import { FAILURE_CODES } from '../events/processing-completed.js';
import { isOperator } from './access.js';
import { html, type SafeHtml } from './html.js';
import { OPS_PAGE, duration, layout, listHref, percent, stateBadge, time } from './page-layout.js';
import type { DryRunView, OpsIdentity, ProcessorsView } from './views.js';

type ProcessorRow = ProcessorsView['processors'][number];
type Figures = ProcessorRow['last_hour'];

/** Paused processors and open circuits, at the top of every page that shows processors. */
export function banner(view: ProcessorsView): SafeHtml {
  const paused = view.processors.filter((p) => p.pause);
  const open = view.processors.filter((p) => p.circuit && p.circuit.state !== 'closed');
  if (paused.length === 0 && open.length === 0) return html``;
  return html`<section class="banner${open.length > 0 ? ' bad' : ''}" role="status" aria-labelledby="banner">
    <h2 id="banner">${bannerTitle(paused.length, open.length)}</h2>
    <ul>
      ${paused.map(
        (p) =>
          html`<li>
            <a href="${OPS_PAGE.processor(p.processor_id)}"><code>${p.processor_id}</code></a> paused by
            ${p.pause?.paused_by} since ${time(p.pause?.paused_at ?? null)}: ${p.pause?.reason}
          </li>`,
      )}
      ${open.map(
        (p) =>
          html`<li>
            <a href="${OPS_PAGE.processor(p.processor_id)}"><code>${p.processor_id}</code></a>
            ${
              p.circuit?.state === 'open'
                ? html`circuit open since ${time(p.circuit.since)} (${p.circuit.failures} of ${p.circuit.runs}
                  runs failed); next trial at ${time(p.circuit.until)}`
                : html`circuit half-open: a trial run decides`
            }
          </li>`,
      )}
    </ul>
    ${scopeNote(view)}
  </section>`;
}

function bannerTitle(paused: number, open: number): string {
  const parts = [
    paused > 0 && `${paused} processor${paused === 1 ? '' : 's'} paused`,
    open > 0 && `${open} circuit${open === 1 ? '' : 's'} open`,
  ].filter(Boolean);
  return `${parts.join(', ')}: ${paused > 0 ? 'not called, their entries are FAILED' : 'runs fail at once'}`;
}

function scopeNote(view: ProcessorsView): SafeHtml {
  return html`<p class="small">
    ${view.note ?? 'Pauses hold for every instance.'} Circuits are those of the instance that answered.
  </p>`;
}

function figureCells(f: Figures): SafeHtml {
  if (!f) return html`<td class="num muted" colspan="4">no run</td>`;
  return html`<td class="num">
      ${f.runs}${f.skipped > 0 ? html` <span class="small muted">+${f.skipped} not called</span>` : ''}
    </td>
    <td class="num${f.failed_rate > 0 ? ' c-failed' : ''}">${percent(f.failed_rate)}</td>
    <td class="num${f.timeout_rate > 0 ? ' c-timeout' : ''}">${percent(f.timeout_rate)}</td>
    <td class="num">${duration(f.p95_run_time)}</td>`;
}

/** Every processor: its state, and its figures over the last hour and day. */
export function processorsTable(view: ProcessorsView): SafeHtml {
  const { samples } = view;
  return html`<section class="card" aria-labelledby="processors">
    <h2 id="processors">Processors</h2>
    <p class="small muted">
      ${view.in_flight} event${view.in_flight === 1 ? '' : 's'} in flight on this instance. From
      ${samples['1h'].executions} executions in the last hour and ${samples['24h'].executions} in the last
      day${samples['24h'].truncated ? ` (the most recent ${samples['24h'].limit}; older ones are not counted)` : ''},
      as of ${time(samples['24h'].as_of)}. Runs that were not called (paused, circuit open) are not in the
      rates.
    </p>
    ${
      view.processors.length === 0
        ? html`<p class="empty">No processor is installed or ran in the last day.</p>`
        : html`<table>
            <thead>
              <tr>
                <th scope="col" rowspan="2">Processor</th>
                <th scope="col" rowspan="2">State</th>
                <th scope="colgroup" colspan="4" class="group">Last hour</th>
                <th scope="colgroup" colspan="4" class="group">Last 24 hours</th>
              </tr>
              <tr>
                ${[1, 2].map(
                  () =>
                    html`<th scope="col" class="num">Runs</th>
                      <th scope="col" class="num">Failed</th>
                      <th scope="col" class="num">Timeout</th>
                      <th scope="col" class="num">p95 run time</th>`,
                )}
              </tr>
            </thead>
            <tbody>
              ${view.processors.map(
                (p) =>
                  html`<tr>
                    <th scope="row">
                      <a href="${OPS_PAGE.processor(p.processor_id)}">${p.processor_id}</a>${
                        p.installed ? '' : html` <span class="small muted">not installed here</span>`
                      }
                    </th>
                    <td>${stateBadge(p.state)}</td>
                    ${figureCells(p.last_hour)} ${figureCells(p.last_day)}
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}

/** The windows "re-run failed since…" offers, as milliseconds. */
export const SINCE_CHOICES = [
  ['1h', 'the last hour', 3_600_000],
  ['6h', 'the last 6 hours', 6 * 3_600_000],
  ['24h', 'the last 24 hours', 86_400_000],
  ['3d', 'the last 3 days', 3 * 86_400_000],
  ['7d', 'the last 7 days', 7 * 86_400_000],
] as const;

/** What the bulk re-run form holds: as filled in, and after a dry run the exact selection to confirm. */
export interface BulkFormState {
  status: 'failed' | 'timeout';
  since: string;
  error_code: string;
  reason: string;
  problem?: string;
  /** After the dry run: its answer, and the idempotency key the confirmation is sent with. */
  preview?: { dry: DryRunView; key: string };
}

export interface ProcessorPageInput {
  identity: OpsIdentity | undefined;
  view: ProcessorsView;
  processorId: string;
  /** A sentence about what was just done (after a redirect), or a problem with the pause form. */
  notice?: string | undefined;
  pauseProblem?: string | undefined;
  bulk?: BulkFormState | undefined;
}

function facts(p: ProcessorRow): SafeHtml {
  const c = p.circuit;
  return html`<dl class="meta">
    <dt>State</dt>
    <dd>${stateBadge(p.state)}</dd>
    ${
      p.pause
        ? html`<dt>Paused</dt>
            <dd>by ${p.pause.paused_by} at ${time(p.pause.paused_at)}: ${p.pause.reason}</dd>`
        : ''
    }
    <dt>Circuit (this instance)</dt>
    <dd>
      ${
        c
          ? html`${c.state.replace('_', '-')}${c.since ? html` since ${time(c.since)}` : ''}${
              c.until ? html`, next trial at ${time(c.until)}` : ''
            };
            ${c.failures} failed of ${c.runs} runs
            ${c.state === 'closed' ? 'in the window' : 'when it opened'}. Opens at
            ${percent(c.policy.failureRate)} of at least ${c.policy.minRuns} runs over
            ${duration(c.policy.windowMs / 1000)}, for ${duration(c.policy.openMs / 1000)}.`
          : html`<span class="muted">none declared</span>`
      }
    </dd>
    <dt>Find its runs</dt>
    <dd>
      <a href="${listHref({ processor: p.processor_id, outcome: 'failed' })}">failed</a> ·
      <a href="${listHref({ processor: p.processor_id, outcome: 'timeout' })}">timed out</a> ·
      <a href="${listHref({ processor: p.processor_id })}">all</a>
    </dd>
  </dl>`;
}

function pauseForm(p: ProcessorRow, problem: string | undefined): SafeHtml {
  const paused = p.pause !== null;
  return html`<section class="card" aria-labelledby="pause">
    <h2 id="pause">${paused ? 'Resume' : 'Pause'}</h2>
    <p class="small muted">
      ${
        paused
          ? 'Every instance calls it again within a few seconds. Runs that failed while it was paused stay failed: re-run them below.'
          : 'While paused it is not called, on every instance within a few seconds: its entries are FAILED with PROCESSOR_PAUSED, naming you and your reason. Events are still processed and published.'
      }
    </p>
    ${problem ? html`<div class="notice error" role="alert"><p>${problem}</p></div>` : ''}
    <form method="post" action="${paused ? OPS_PAGE.resume(p.processor_id) : OPS_PAGE.pause(p.processor_id)}">
      <div class="field">
        <label for="pause-reason">Reason (${paused ? 'optional; ' : ''}recorded with your name)</label>
        <textarea
          id="pause-reason"
          name="reason"
          maxlength="500"
          rows="2"
          ${paused ? '' : html` required`}
        ></textarea>
      </div>
      <p><button type="submit">${paused ? 'Resume' : 'Pause'} ${p.processor_id}</button></p>
    </form>
  </section>`;
}

function option(value: string, label: string, chosen: string): SafeHtml {
  return html`<option value="${value}" ${value === chosen ? html` selected` : ''}>${label}</option>`;
}

function bulkForm(p: ProcessorRow, state: BulkFormState | undefined): SafeHtml {
  const s = state ?? { status: 'failed', since: '6h', error_code: '', reason: '' };
  return html`<section class="card" aria-labelledby="bulk">
    <h2 id="bulk">Re-run failed since…</h2>
    <p class="small muted">
      Counts first (a dry run), then asks you to confirm. Each underwriting whose latest execution has this
      processor failed (or timed out) in the window is re-run once, at 2 a second, reusing the other
      processors' outcomes.
    </p>
    ${s.problem ? html`<div class="notice error" role="alert"><p>${s.problem}</p></div>` : ''}
    <form method="post" action="${OPS_PAGE.bulkRerun(p.processor_id)}">
      <input type="hidden" name="step" value="preview" />
      <div class="filters">
        <div>
          <label for="bulk-status">Runs that</label>
          <select id="bulk-status" name="status">
            ${option('failed', 'failed', s.status)} ${option('timeout', 'timed out', s.status)}
          </select>
        </div>
        <div>
          <label for="bulk-since">Since</label>
          <select id="bulk-since" name="since">
            ${SINCE_CHOICES.map(([value, label]) => option(value, label, s.since))}
          </select>
        </div>
        <div>
          <label for="bulk-code">Error code</label>
          <select id="bulk-code" name="error_code">
            ${option('', 'any', s.error_code)} ${FAILURE_CODES.map((c) => option(c, c, s.error_code))}
          </select>
        </div>
      </div>
      <div class="field">
        <label for="bulk-reason">Reason (recorded with your name)</label>
        <textarea id="bulk-reason" name="reason" required maxlength="500" rows="2">${s.reason}</textarea>
      </div>
      <p><button type="submit">Count (dry run)</button></p>
    </form>
  </section>`;
}

/** The dry run's answer, in a card of its own under the forms, with the confirmation. */
function preview(p: ProcessorRow, s: BulkFormState, found: { dry: DryRunView; key: string }): SafeHtml {
  return html`<section class="card" aria-labelledby="dry-run-title">
    <h2 id="dry-run-title">Dry run</h2>
    ${previewBody(p, s, found)}
  </section>`;
}

function previewBody(
  p: ProcessorRow,
  s: BulkFormState,
  { dry, key }: { dry: DryRunView; key: string },
): SafeHtml {
  const window = html`completed between ${time(dry.selection.since)} and ${time(dry.selection.until)}`;
  if (dry.truncated) {
    return html`<div class="notice error" role="status">
      <p>
        More than one job may take (${dry.count} underwritings after reading ${dry.scanned} executions):
        choose a shorter window.
      </p>
    </div>`;
  }
  if (dry.count === 0) {
    return html`<div class="notice" role="status">
      <p>Nothing to re-run: no underwriting's latest execution matches (${window}).</p>
    </div>`;
  }
  const hidden = (name: string, value: string) =>
    html`<input type="hidden" name="${name}" value="${value}" />`;
  return html`<div class="notice" role="status" id="dry-run">
      <p>
        <strong>${dry.count} underwriting${dry.count === 1 ? '' : 's'}</strong> would be re-run: their latest
        execution has <code>${p.processor_id}</code> ${dry.selection.status}${
          dry.selection.error_code ? html` with <code>${dry.selection.error_code}</code>` : ''
        },
        ${window}.
      </p>
    </div>
    <table>
      <caption>
        ${dry.sample.length < dry.count ? `The ${dry.sample.length} most recent` : 'All of them'}.
      </caption>
      <thead>
        <tr>
          <th scope="col">Underwriting</th>
          <th scope="col">Completed</th>
          <th scope="col">Error</th>
        </tr>
      </thead>
      <tbody>
        ${dry.sample.map(
          (c) =>
            html`<tr>
              <th scope="row"><a href="${OPS_PAGE.detail(c.underwriting_id)}">${c.underwriting_id}</a></th>
              <td>${time(c.completed_at)}</td>
              <td>
                ${c.error_message === null ? html`<span class="muted">—</span>` : html`<pre class="err">${c.error_message}</pre>`}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <form method="post" action="${OPS_PAGE.bulkRerun(p.processor_id)}">
      ${hidden('step', 'confirm')} ${hidden('key', key)} ${hidden('status', dry.selection.status)}
      ${hidden('since', s.since)} ${hidden('since_at', dry.selection.since)}
      ${hidden('until_at', dry.selection.until)} ${hidden('error_code', dry.selection.error_code ?? '')}
      ${hidden('reason', s.reason)}
      <p><button type="submit">Re-run ${dry.count} underwriting${dry.count === 1 ? '' : 's'}</button></p>
    </form>`;
}

/** One processor's page. */
export function processorPage(input: ProcessorPageInput): string {
  const { identity, view, processorId } = input;
  const p = view.processors.find((x) => x.processor_id === processorId);
  const body = p
    ? html`${banner(view)}
        <h1><code>${processorId}</code> ${stateBadge(p.state)}</h1>
        ${input.notice ? html`<div class="notice done" role="status"><p>${input.notice}</p></div>` : ''}
        <section class="card" aria-labelledby="about">
          <h2 id="about">Now</h2>
          ${facts(p)}
        </section>
        ${
          isOperator(identity)
            ? html`<div class="actions">${pauseForm(p, input.pauseProblem)} ${bulkForm(p, input.bulk)}</div>
                ${input.bulk?.preview ? preview(p, input.bulk, input.bulk.preview) : ''}`
            : html`<p class="small muted">
                Pausing and re-running need the operator role (<code>OPS_OPERATORS</code>).
              </p>`
        }`
    : html`<h1><code>${processorId}</code></h1>
        <div class="notice error" role="alert">
          <p>No processor ${processorId} is installed or ran in the last day.</p>
        </div>`;
  return layout({
    title: processorId,
    identity,
    body: html`<p class="crumbs"><a href="${OPS_PAGE.list}">Operations</a> › processor</p>
      ${body}`,
  });
}
