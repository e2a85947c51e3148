// Bulk re-run jobs on the page: the recent ones on the list, and one job's page with its progress
// (it reloads itself while the job works) and, for operators, the cancel form.
import { isOperator } from './access.js';
import { html, type SafeHtml } from './html.js';
import { OPS_PAGE, layout, stateBadge, time } from './page-layout.js';
import type { JobAnswer, JobsView, OpsIdentity, RerunJob } from './views.js';

/** Seconds between reloads of a job's page while it works. */
const REFRESH_SECONDS = 3;

/** Whether a job still works: requesting, or following re-runs it requested. */
export function working(job: RerunJob): boolean {
  const { requested, finished, failed } = job.counts;
  return (
    job.state === 'selecting' ||
    job.state === 'running' ||
    (job.state === 'cancelled' && requested > finished + failed)
  );
}

function selectionText(job: RerunJob): string {
  const s = job.selection;
  return [
    `${s.processors.join(', ')} ${s.status}`,
    s.error_code && `code ${s.error_code}`,
    s.error_text && `message containing "${s.error_text}"`,
  ]
    .filter(Boolean)
    .join(', ');
}

function counts(job: RerunJob): SafeHtml {
  const c = job.counts;
  const cell = (n: number, label: string) =>
    html`<div><span class="n">${n}</span><span class="l">${label}</span></div>`;
  return html`<div class="counts" aria-label="Progress">
    ${cell(c.selected, 'selected')} ${cell(c.requested, 'requested')} ${cell(c.finished, 'finished')}
    ${cell(c.failed, 'failed')} ${cell(c.skipped, 'skipped')}
  </div>`;
}

/** The recent jobs, on the list page. */
export function jobsSection(view: JobsView): SafeHtml {
  return html`<section class="card" aria-labelledby="jobs">
    <h2 id="jobs">Bulk re-runs</h2>
    ${view.note ? html`<p class="small muted">${view.note}</p>` : ''}
    ${
      view.jobs.length === 0
        ? html`<p class="empty">No bulk re-run yet. Start one from a processor's page.</p>`
        : html`<table>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">State</th>
                <th scope="col">Selection</th>
                <th scope="col" class="num">Selected</th>
                <th scope="col" class="num">Requested</th>
                <th scope="col" class="num">Finished</th>
                <th scope="col" class="num">Failed</th>
                <th scope="col">Asked</th>
              </tr>
            </thead>
            <tbody>
              ${view.jobs.slice(0, 10).map(
                (job) =>
                  html`<tr>
                    <th scope="row">
                      <a href="${OPS_PAGE.job(job.id)}" class="mono small">${job.id.slice(0, 12)}</a>
                    </th>
                    <td>${stateBadge(job.state)}</td>
                    <td>
                      ${selectionText(job)}
                      <div class="small muted">since ${time(job.selection.since)}</div>
                    </td>
                    <td class="num">${job.counts.selected}</td>
                    <td class="num">${job.counts.requested}</td>
                    <td class="num">${job.counts.finished}</td>
                    <td class="num${job.counts.failed > 0 ? ' c-failed' : ''}">${job.counts.failed}</td>
                    <td>
                      ${job.requested_by}
                      <div class="small muted">${time(job.created_at)}</div>
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}

export interface JobPageInput {
  identity: OpsIdentity | undefined;
  answer: JobAnswer;
  notice?: string | undefined;
  problem?: string | undefined;
}

/** One job: its selection, progress and, for operators while it works, the cancel form. */
export function jobPage({ identity, answer, notice, problem }: JobPageInput): string {
  const { job } = answer;
  const active = working(job);
  const done = job.counts.finished + job.counts.failed + job.counts.skipped;
  return layout({
    title: `Bulk re-run ${job.id.slice(0, 12)}`,
    identity,
    refreshSeconds: active && !problem ? REFRESH_SECONDS : undefined,
    body: html`<p class="crumbs"><a href="${OPS_PAGE.list}">Operations</a> › bulk re-run</p>
      <h1>Bulk re-run <code class="small">${job.id}</code> ${stateBadge(job.state)}</h1>
      ${notice ? html`<div class="notice done" role="status"><p>${notice}</p></div>` : ''}
      ${problem ? html`<div class="notice error" role="alert"><p>${problem}</p></div>` : ''}
      <section class="card" aria-labelledby="progress">
        <h2 id="progress">Progress</h2>
        ${counts(job)}
        <progress
          max="${Math.max(1, job.counts.selected)}"
          value="${done}"
          aria-label="Underwritings settled"
        >
          ${done} of ${job.counts.selected}
        </progress>
        <p class="small muted">
          ${
            active
              ? `Working: this page reloads every ${REFRESH_SECONDS} s. Requests go out at ${job.pace_per_second} a second.`
              : `Over${job.finished_at ? '' : '.'}`
          }
          ${job.finished_at ? html` at ${time(job.finished_at)}.` : ''} ${answer.note ?? ''}
        </p>
      </section>
      <section class="card" aria-labelledby="what">
        <h2 id="what">What it re-runs</h2>
        <dl class="meta">
          <dt>Selection</dt>
          <dd>${selectionText(job)}</dd>
          <dt>Completed between</dt>
          <dd>${time(job.selection.since)} and ${time(job.selection.until)}</dd>
          <dt>Asked by</dt>
          <dd>${job.requested_by} at ${time(job.created_at)}</dd>
          <dt>Reason</dt>
          <dd>${job.reason}</dd>
          ${
            job.cancelled_by
              ? html`<dt>Cancelled</dt>
                  <dd>by ${job.cancelled_by} at ${time(job.cancelled_at)}</dd>`
              : ''
          }
        </dl>
      </section>
      ${
        isOperator(identity) && (job.state === 'running' || job.state === 'selecting')
          ? html`<section class="card" aria-labelledby="cancel">
              <h2 id="cancel">Cancel</h2>
              <p class="small muted">
                No more underwriting is requested; those requested already are followed to their result.
              </p>
              <form method="post" action="${OPS_PAGE.cancel(job.id)}">
                <div class="field">
                  <label for="cancel-reason">Reason (optional, recorded with your name)</label>
                  <textarea id="cancel-reason" name="reason" maxlength="500" rows="2"></textarea>
                </div>
                <p><button type="submit">Cancel this job</button></p>
              </form>
            </section>`
          : ''
      }`,
  });
}
