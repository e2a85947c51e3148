// HTML built from tagged templates: every interpolated value is escaped unless it is itself the
// result of `html`, so markup cannot come from data (processor errors, factors, ids) by accident.

const SAFE = Symbol('safe-html');

/** Markup that is already escaped: only `html` and `raw` make one. */
export interface SafeHtml {
  readonly [SAFE]: true;
  readonly value: string;
}

/** What may be interpolated: text (escaped), markup, nothing, or a list of these. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text made safe for an element's content and for a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

function isSafe(value: unknown): value is SafeHtml {
  return typeof value === 'object' && value !== null && SAFE in value;
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (typeof value === 'object') return isSafe(value) ? value.value : value.map(render).join('');
  return escapeHtml(String(value));
}

/** Markup from a trusted literal; only for constants written in this code, never for data. */
export function raw(markup: string): SafeHtml {
  return { [SAFE]: true, value: markup };
}

/** The template tag: literal parts are markup, every `${value}` is escaped text (or markup). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return raw(out);
}
