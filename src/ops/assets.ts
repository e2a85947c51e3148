// The page's stylesheet and its one small script, served as files of their own so that the
// Content-Security-Policy can forbid inline style and script. Kept here as strings: no build step,
// and nothing to copy next to the compiled code.

/** Paths under which the page serves its assets. */
export const OPS_ASSETS = { css: '/ops/assets/ops.css', js: '/ops/assets/ops.js' } as const;

export const OPS_CSS = `
:root {
  --ink: #1c2430; --muted: #5b6675; --line: #dde2e8; --bg: #f5f7fa; --card: #fff;
  --accent: #1f5fbf; --ok: #1b7f3b; --ok-bg: #e3f4e8; --warn: #8a5a00; --warn-bg: #fdf0d5;
  --bad: #b42318; --bad-bg: #fde7e5; --run: #1f5fbf; --run-bg: #e4edfb; --wait: #c3cad3;
  color-scheme: light;
}
* { box-sizing: border-box; }
html { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
body { margin: 0; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible {
  outline: 3px solid #7aa7ff; outline-offset: 2px;
}
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 0.9em; }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: 6px 10px; }
.skip:focus { left: 8px; }
.top { display: flex; justify-content: space-between; align-items: center; gap: 16px; padding: 10px 24px; background: #16202e; color: #e8edf3; }
.top a { color: #fff; text-decoration: none; font-weight: 600; }
.top .who { font-size: 0.9em; color: #b8c3d1; }
main { max-width: 1200px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 1.5rem; margin: 0.2em 0 0.6em; display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
h2 { font-size: 1.15rem; margin: 0 0 0.6em; display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.crumbs { font-size: 0.9em; color: var(--muted); margin: 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; margin: 0 0 18px; }
.muted { color: var(--muted); }
.small { font-size: 0.85em; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: var(--muted); font-size: 0.88em; padding: 0 0 8px; caption-side: top; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: 0.78em; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); font-weight: 600; background: #fafbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover { background: #f9fbfe; }
.nowrap { white-space: nowrap; }
.c-failed, .c-timeout { color: var(--bad); font-weight: 600; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 0.8rem; font-weight: 600; white-space: nowrap; border: 1px solid transparent; }
.b-success, .b-completed { color: var(--ok); background: var(--ok-bg); border-color: #b7e1c3; }
.b-partial_success { color: var(--warn); background: var(--warn-bg); border-color: #f0d394; }
.b-failed, .b-timeout { color: var(--bad); background: var(--bad-bg); border-color: #f5b5ae; }
.b-running { color: var(--run); background: var(--run-bg); border-color: #b9cdf3; }
.b-reused { color: #4a4f8a; background: #ecedfa; border-color: #c9cbef; }
.b-rerun { color: #5a3d8a; background: #f1eafb; border-color: #d6c6f0; }
.filters { display: flex; flex-wrap: wrap; gap: 12px 18px; align-items: flex-end; }
.filters label, .field label { display: block; font-size: 0.82em; font-weight: 600; color: var(--muted); margin-bottom: 3px; }
input[type=text], select, textarea { font: inherit; padding: 6px 8px; border: 1px solid #b9c2cd; border-radius: 6px; background: #fff; color: var(--ink); }
textarea { width: 100%; max-width: 640px; min-height: 4.5em; }
button, .button { font: inherit; font-weight: 600; padding: 6px 16px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
.button.secondary { background: #fff; color: var(--accent); }
.paging { display: flex; gap: 12px; margin-top: 12px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 14px; font-size: 0.92em; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.timeline { width: 100%; min-width: 160px; height: 14px; display: block; background: #f1f3f6; border-radius: 3px; }
.timeline .q { fill: var(--wait); }
.timeline .r-completed { fill: var(--ok); }
.timeline .r-failed, .timeline .r-timeout { fill: var(--bad); }
.timeline .r-reused { fill: #8c90c9; }
.legend { display: flex; gap: 16px; font-size: 0.82em; color: var(--muted); margin: 6px 0 0; }
.legend svg { width: 22px; height: 10px; vertical-align: middle; margin-right: 4px; }
.legend .q { fill: var(--wait); } .legend .r { fill: var(--ok); } .legend .x { fill: var(--bad); }
pre.err { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85em; color: var(--bad); background: var(--bad-bg); padding: 4px 8px; border-radius: 4px; max-width: 460px; }
.ids { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 0.9em; color: var(--muted); white-space: nowrap; }
.notice { border-left: 4px solid var(--accent); background: var(--run-bg); padding: 10px 14px; border-radius: 4px; margin: 0 0 18px; }
.notice p { margin: 0; }
.notice.done { border-color: var(--ok); background: var(--ok-bg); }
.notice.error { border-color: var(--bad); background: var(--bad-bg); }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px 10px; margin: 0 0 12px; }
legend { font-weight: 600; padding: 0 4px; }
.check { display: block; padding: 3px 0; }
.check input { margin-right: 6px; }
.empty { color: var(--muted); padding: 18px 0; }
.b-active, .b-done { color: var(--ok); background: var(--ok-bg); border-color: #b7e1c3; }
.b-paused, .b-cancelled { color: var(--warn); background: var(--warn-bg); border-color: #f0d394; }
.b-circuit_open, .b-circuit_half_open { color: var(--bad); background: var(--bad-bg); border-color: #f5b5ae; }
.b-selecting { color: var(--run); background: var(--run-bg); border-color: #b9cdf3; }
.banner { border: 1px solid #f0d394; border-left: 6px solid var(--warn); background: var(--warn-bg); border-radius: 6px; padding: 10px 16px; margin: 0 0 18px; }
.banner.bad { border-color: #f5b5ae; border-left-color: var(--bad); background: var(--bad-bg); }
.banner h2 { font-size: 1rem; margin: 0 0 4px; }
.banner ul { margin: 0; padding-left: 20px; }
.actions { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 18px; align-items: start; margin: 0 0 18px; }
.actions .card { margin: 0; }
.actions .filters { margin-bottom: 10px; }
.counts { display: flex; flex-wrap: wrap; gap: 10px 26px; margin: 6px 0 12px; }
.counts div { min-width: 90px; }
.counts .n { font-size: 1.5rem; font-weight: 700; font-variant-numeric: tabular-nums; display: block; }
.counts .l { font-size: 0.8em; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
progress { width: 100%; max-width: 640px; height: 14px; }
th.group { text-align: center; border-bottom: 2px solid var(--line); }
input[type=datetime-local] { font: inherit; padding: 5px 8px; border: 1px solid #b9c2cd; border-radius: 6px; }
.inline { display: inline; }
td.json { overflow-wrap: anywhere; word-break: break-word; max-width: 460px; }
`;

export const OPS_JS = `// Reloads a page that shows work still running (a re-run that has not finished), every few
// seconds, unless the operator has started filling in a form on it.
(function () {
  var marker = document.querySelector('[data-refresh-seconds]');
  if (!marker) return;
  var seconds = Number(marker.getAttribute('data-refresh-seconds')) || 3;
  var touched = false;
  document.addEventListener('input', function () { touched = true; });
  setInterval(function () {
    var active = document.activeElement;
    if (touched || (active && active.closest && active.closest('form'))) return;
    window.location.reload();
  }, seconds * 1000);
})();
`;
