// `GET /ops/u/{id}`: every execution of one underwriting, newest first, each with a per-processor
// timeline (queue wait, then run time), errors, reused outcomes and re-run details; and, for
// operators only, the re-run form.
import { isOperator } from './access.js';
import { html, type SafeHtml } from './html.js';
import { OPS_PAGE, duration, elapsed, layout, statusBadge, time } from './page-layout.js';
import type { ExecutionView, OpsIdentity, ProcessorRunView, UnderwritingView } from './views.js';

/** What the re-run form shows again after a refused submission. */
export interface RerunFormState {
  processors: string[];
  reason: string;
  problem: string;
}

export interface DetailPageInput {
  identity: OpsIdentity | undefined;
  view: UnderwritingView;
  /** A re-run this operator just asked for (from the redirect after the form): its key, and when (epoch ms). */
  requestedRerun?: { key: string; at: number } | undefined;
  form?: RerunFormState | undefined;
  /** Epoch ms; for tests. */
  now?: number;
}

// How long the page waits between reloads while a re-run it asked for has not finished, and for
// how long after asking it keeps reloading (a re-run not recorded by then needs a human look).
const REFRESH_SECONDS = 2;
const RERUN_WAIT_MS = 10 * 60_000;

function timeline(run: ProcessorRunView, scale: number): SafeHtml {
  const wait = run.queue_wait ?? 0;
  const at = (seconds: number) => Math.min(100, (seconds / scale) * 100);
  // A run too short to see still gets a sliver, so every row shows where it ran.
  const width = Math.max(1.2, at(run.run_time));
  const x = Math.min(at(wait), 100 - width);
  const runClass = run.reused ? 'r-reused' : `r-${run.status}`;
  const label = `queued ${duration(run.queue_wait)}, ran ${duration(run.run_time)}${run.reused ? ' (reused)' : ''}`;
  return html`<svg
    class="timeline"
    viewBox="0 0 100 10"
    preserveAspectRatio="none"
    role="img"
    aria-label="${label}"
  >
    <title>${label}</title>
    ${wait > 0 ? html`<rect class="q" x="0" y="0" width="${at(wait).toFixed(2)}" height="10"></rect>` : ''}
    <rect class="${runClass}" x="${x.toFixed(2)}" y="0" width="${width.toFixed(2)}" height="10"></rect>
  </svg>`;
}

function processorRow(run: ProcessorRunView, scale: number): SafeHtml {
  const status =
    run.status === 'timeout' && run.timeout_phase
      ? html`${statusBadge('timeout')} <span class="small muted">${run.timeout_phase}</span>`
      : statusBadge(run.status);
  return html`<tr>
    <th scope="row">
      <code>${run.processor_id}</code>
      <div class="ids">${run.execution_ids.join(', ')}</div>
    </th>
    <td class="nowrap">
      ${status}${run.reused ? html` <span class="badge b-reused" title="taken from an earlier delivery or execution, not run again">reused</span>` : ''}
    </td>
    <td class="num">${run.attempts}</td>
    <td>
      ${
        run.reused
          ? html`<span class="small muted"
              >not run here: reused (it ran ${duration(run.run_time)} in an earlier delivery or
              execution)</span
            >`
          : timeline(run, scale)
      }
    </td>
    <td class="num">${duration(run.queue_wait)}</td>
    <td class="num">${run.reused ? html`<span class="muted">—</span>` : duration(run.run_time)}</td>
    <td>
      ${run.error_message === null ? html`<span class="muted">—</span>` : html`<pre class="err">${run.error_message}</pre>`}
    </td>
  </tr>`;
}

function executionSection(execution: ExecutionView, index: number, all: ExecutionView[]): SafeHtml {
  // The timeline spans the execution, receipt to finish (what "took" says), or what ran so far.
  // Reused outcomes did not run in this execution: their times do not set it.
  const ran = execution.processors.filter((p) => !p.reused);
  const took = elapsed(execution.received_at, execution.finished_at);
  const scale = Math.max(0.001, took ?? 0, ...ran.map((p) => (p.queue_wait ?? 0) + p.run_time));
  const id = `execution-${index}`;
  const { rerun } = execution;
  const earlier = rerun ? all.findIndex((e) => e.key === rerun.of) : -1;
  return html`<section class="card" aria-labelledby="${id}">
    <h2 id="${id}">
      ${rerun ? 'Re-run' : 'Execution'}
      <code>${execution.key}</code>
      ${statusBadge(execution.overall_status)}${index === 0 ? html` <span class="small muted">latest</span>` : ''}
    </h2>
    <dl class="meta">
      <dt>Received</dt>
      <dd>${time(execution.received_at)}</dd>
      <dt>Finished</dt>
      <dd>${time(execution.finished_at)}${took === null ? '' : ` (took ${duration(took)})`}</dd>
      <dt>Deliveries</dt>
      <dd>${execution.deliveries}</dd>
      <dt>Message</dt>
      <dd class="mono">${execution.source_message_id}</dd>
      <dt>Published</dt>
      <dd class="mono">${execution.published_message_id ?? 'not yet'}</dd>
      ${
        rerun
          ? html`<dt>Re-run of</dt>
              <dd class="mono">
                ${earlier >= 0 ? html`<a href="#execution-${earlier}">${rerun.of}</a>` : rerun.of}
              </dd>
              <dt>Asked by</dt>
              <dd>${rerun.requested_by}</dd>
              <dt>Reason</dt>
              <dd>${rerun.reason}</dd>
              <dt>Ran again</dt>
              <dd>${rerun.processors.join(', ')}</dd>`
          : ''
      }
    </dl>
    ${
      execution.processors.length === 0
        ? html`<p class="empty">No processor has finished yet.</p>`
        : html`<table>
            <caption>
              Timeline from receipt (0) to
              ${took === null ? `${duration(scale)} so far` : `finished (${duration(scale)})`}: grey is the
              time before a processor started (its documents, then a free thread), colour its run.
            </caption>
            <thead>
              <tr>
                <th scope="col">Processor</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">Attempts</th>
                <th scope="col">Timeline</th>
                <th scope="col" class="num">Queued</th>
                <th scope="col" class="num">Ran</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              ${execution.processors.map((run) => processorRow(run, scale))}
            </tbody>
          </table>`
    }
  </section>`;
}

function rerunForm(view: UnderwritingView, form: RerunFormState | undefined): SafeHtml {
  const latest = view.executions[0];
  const processors = latest?.processors ?? [];
  const failing = processors.filter((p) => p.status !== 'completed').map((p) => p.processor_id);
  const chosen = new Set(form?.processors ?? (failing.length > 0 ? ['failed'] : []));
  const box = (value: string, label: SafeHtml) =>
    html`<label class="check"
      ><input
        type="checkbox"
        name="processors"
        value="${value}"
        ${chosen.has(value) ? html` checked` : ''}
      />${label}</label
    >`;
  return html`<section class="card" aria-labelledby="rerun">
    <h2 id="rerun">Re-run processors</h2>
    <p class="small muted">
      The chosen processors run again with freshly fetched documents; every other processor's latest outcome
      is kept as it is, and a new <code>processing.completed</code> is published.
    </p>
    ${form ? html`<div class="notice error" role="alert"><p>${form.problem}</p></div>` : ''}
    <form method="post" action="${OPS_PAGE.rerun(view.underwriting_id)}">
      <fieldset>
        <legend>Processors to run again</legend>
        ${box('failed', html`Every processor that did not complete${failing.length > 0 ? html` <span class="muted">(now: ${failing.join(', ')})</span>` : html` <span class="muted">(none now)</span>`}`)}
        ${processors.map((p) => box(p.processor_id, html`<code>${p.processor_id}</code> ${statusBadge(p.status)}`))}
      </fieldset>
      <div class="field">
        <label for="rerun-reason">Reason (recorded with your name)</label>
        <textarea id="rerun-reason" name="reason" required maxlength="500" rows="3">
${form?.reason ?? ''}</textarea>
      </div>
      <p><button type="submit">Re-run</button></p>
    </form>
  </section>`;
}

function rerunNotice(view: UnderwritingView, key: string, reloading: boolean): SafeHtml {
  const execution = view.executions.find((e) => e.key === key);
  if (execution?.overall_status) {
    return html`<div class="notice done" role="status">
      <p>Re-run <code>${key}</code> finished: ${statusBadge(execution.overall_status)}</p>
    </div>`;
  }
  if (!reloading) {
    return html`<div class="notice error" role="status">
      <p>
        Re-run <code>${key}</code> is still ${execution ? 'running' : 'waiting for an instance to take it'}
        after ten minutes; this page no longer reloads by itself. Reload it to look again; if nothing changes,
        the service logs say why.
      </p>
    </div>`;
  }
  return html`<div class="notice" role="status">
    <p>
      Re-run <code>${key}</code> requested.
      ${execution ? 'It is running' : 'It waits for an instance to take it'}; this page reloads until its
      result is in.
    </p>
  </div>`;
}

/** Whether the page waits for a re-run asked for lately that has not finished: it reloads then. */
function waiting(view: UnderwritingView, requested: { key: string; at: number }, now: number): boolean {
  const finished = view.executions.some((e) => e.key === requested.key && e.overall_status !== null);
  return !finished && now - requested.at < RERUN_WAIT_MS && requested.at - now < RERUN_WAIT_MS;
}

/** The whole detail page. */
export function detailPage({
  identity,
  view,
  requestedRerun,
  form,
  now = Date.now(),
}: DetailPageInput): string {
  const latest = view.executions[0];
  const reloading = requestedRerun !== undefined && !form && waiting(view, requestedRerun, now);
  const [newest, ...older] = view.executions.map((e, i, all) => executionSection(e, i, all));
  return layout({
    title: view.underwriting_id,
    identity,
    refreshSeconds: reloading ? REFRESH_SECONDS : undefined,
    body: html`<p class="crumbs"><a href="${OPS_PAGE.list}">Operations</a> › underwriting</p>
      <h1><code>${view.underwriting_id}</code> ${latest ? statusBadge(latest.overall_status) : ''}</h1>
      ${requestedRerun ? rerunNotice(view, requestedRerun.key, reloading) : ''}
      <p class="legend" aria-hidden="true">
        <span
          ><svg viewBox="0 0 22 10"><rect class="q" width="22" height="10"></rect></svg>queued</span
        ><span
          ><svg viewBox="0 0 22 10"><rect class="r" width="22" height="10"></rect></svg>ran, completed</span
        ><span
          ><svg viewBox="0 0 22 10"><rect class="x" width="22" height="10"></rect></svg>ran, failed or timed
          out</span
        >
      </p>
      ${newest ?? html`<p class="empty">No execution recorded.</p>`}
      ${
        isOperator(identity)
          ? rerunForm(view, form)
          : html`<p class="small muted">Re-running needs the operator role (<code>OPS_OPERATORS</code>).</p>`
      }
      ${older}`,
  });
}
