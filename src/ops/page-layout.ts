// What every /ops page shares: the document around it, badges, and how times and durations read.
import { OPS_ASSETS } from './assets.js';
import { html, type HtmlValue, type SafeHtml } from './html.js';
import type { ExecutionView, OpsIdentity } from './views.js';

/**
 * Paths of the page (the JSON API owns `/ops/underwritings`, `/ops/executions`, `/ops/stats`,
 * `/ops/processors`, `/ops/reruns`, `/ops/audit`).
 */
export const OPS_PAGE = {
  list: '/ops',
  detail: (underwritingId: string) => `/ops/u/${encodeURIComponent(underwritingId)}`,
  rerun: (underwritingId: string) => `/ops/u/${encodeURIComponent(underwritingId)}/rerun`,
  processor: (id: string) => `/ops/p/${encodeURIComponent(id)}`,
  pause: (id: string) => `/ops/p/${encodeURIComponent(id)}/pause`,
  resume: (id: string) => `/ops/p/${encodeURIComponent(id)}/resume`,
  bulkRerun: (id: string) => `/ops/p/${encodeURIComponent(id)}/reruns`,
  job: (id: string) => `/ops/jobs/${encodeURIComponent(id)}`,
  cancel: (id: string) => `/ops/jobs/${encodeURIComponent(id)}/cancel`,
} as const;

export interface LayoutOptions {
  title: string;
  identity: OpsIdentity | undefined;
  body: HtmlValue;
  /** Reload every few seconds (the page shows work still running). */
  refreshSeconds?: number;
}

/** A whole HTML document: the stylesheet and script are files of their own (see the CSP). */
export function layout({ title, identity, body, refreshSeconds }: LayoutOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · processor-orchestrator</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${OPS_ASSETS.css}">
<script src="${OPS_ASSETS.js}" defer></script>
</head>
<body${refreshSeconds ? html` data-refresh-seconds="${refreshSeconds}"` : ''}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a href="${OPS_PAGE.list}">processor-orchestrator · operations</a>
${identity ? html`<span class="who">${identity.email} · ${identity.role}</span>` : ''}
</header>
<main id="main">
${body}
</main>
</body>
</html>
`.value;
}

/** An execution's overall status, or `running` while it has none. */
export function statusBadge(status: ExecutionView['overall_status'] | 'completed' | 'timeout'): SafeHtml {
  const name = status ?? 'running';
  return html`<span class="badge b-${name}">${name.replace('_', ' ')}</span>`;
}

/** The list's address with these filters (empty ones left out). */
export function listHref(filters: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
  const search = params.toString();
  return search ? `${OPS_PAGE.list}?${search}` : OPS_PAGE.list;
}

/** A state (of a processor, a job) as a badge: `circuit_open` reads "circuit open". */
export function stateBadge(state: string): SafeHtml {
  return html`<span class="badge b-${state}">${state.replaceAll('_', ' ')}</span>`;
}

/** An ISO time as an operator reads it (UTC, to the second), machine-readable in `datetime`. */
export function time(iso: string | null): SafeHtml {
  if (iso === null) return html`<span class="muted">—</span>`;
  const shown = iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
  return html`<time datetime="${iso}" class="nowrap">${shown}</time>`;
}

/** Seconds as a short duration: `340 ms`, `4.25 s`, `3 min 05 s`. */
export function duration(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds > 0 && seconds < 0.0005) return '< 1 ms';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${String(Math.round(seconds - minutes * 60)).padStart(2, '0')} s`;
}

/** Seconds between two ISO times, or `null` while the second is missing. */
export function elapsed(from: string, to: string | null): number | null {
  return to === null ? null : Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}

/** A rate in [0, 1] as a percentage. */
export function percent(rate: number): string {
  return `${(rate * 100).toFixed(rate === 0 || rate === 1 ? 0 : 1)} %`;
}

/** The page for a request that cannot be answered: its status and a sentence saying why. */
export function errorPage(identity: OpsIdentity | undefined, status: number, message: string): string {
  const heading = status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : 'Cannot show this';
  return layout({
    title: heading,
    identity,
    body: html`<p class="crumbs"><a href="${OPS_PAGE.list}">Operations</a></p>
      <h1>${heading}</h1>
      <div class="notice error" role="alert"><p>${message}</p></div>
      <p><a href="${OPS_PAGE.list}">Back to recent underwritings</a></p>`,
  });
}
