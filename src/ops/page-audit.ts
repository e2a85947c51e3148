// The audit trail on the list page: the latest operator actions, who, when, why and what.
import { html, type SafeHtml } from './html.js';
import { OPS_PAGE, time } from './page-layout.js';
import type { AuditEntry, AuditPage } from './views.js';

const ACTION_NAMES: Record<AuditEntry['action'], string> = {
  pause: 'paused',
  resume: 'resumed',
  rerun: 're-ran',
  rerun_job: 'started a bulk re-run',
  rerun_job_cancel: 'cancelled a bulk re-run',
};

function subject(entry: AuditEntry): SafeHtml {
  switch (entry.action) {
    case 'pause':
    case 'resume':
      return html`<a href="${OPS_PAGE.processor(entry.subject)}"><code>${entry.subject}</code></a>`;
    case 'rerun':
      return html`<a href="${OPS_PAGE.detail(entry.subject)}">${entry.subject}</a>`;
    default:
      return html`<a href="${OPS_PAGE.job(entry.subject)}" class="mono small"
        >${entry.subject.slice(0, 12)}</a
      >`;
  }
}

/** Up to a page of the latest actions. */
export function auditSection(page: AuditPage): SafeHtml {
  return html`<section class="card" aria-labelledby="audit">
    <h2 id="audit">Operator actions</h2>
    <p class="small muted">
      The latest; all of them in
      <a href="/ops/audit">/ops/audit</a> (JSON).${page.note ? ` ${page.note}` : ''}
    </p>
    ${
      page.entries.length === 0
        ? html`<p class="empty">No operator action recorded yet.</p>`
        : html`<table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Did</th>
                <th scope="col">Why</th>
                <th scope="col">Selected, and what it did</th>
              </tr>
            </thead>
            <tbody>
              ${page.entries.map(
                (e) =>
                  html`<tr>
                    <td>${time(e.at)}</td>
                    <td>${e.by}</td>
                    <td>${ACTION_NAMES[e.action]} ${subject(e)}</td>
                    <td>${e.reason ?? html`<span class="muted">—</span>`}</td>
                    <td class="small mono json">
                      ${JSON.stringify(e.selection)}<br />→ ${JSON.stringify(e.result)}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}
