// Pieces every management page uses: sections that load on their own, form fields, secrets
// shown once with a copy button, two-step confirmations, times and durations.
import { ApiError } from '../api.js';
import { append, h, replace } from '../dom.js';
import { readableTime, relativeTime, useTimeZone } from '../format.js';

export const ROLES = ['guest', 'member', 'admin', 'owner'];

/** A role's rank: guest 0 … owner 3; -1 for none. */
export function rank(role) {
  return ROLES.indexOf(role);
}

/**
 * A time cell: the time as people read it in the house's zone ("Thu 3 Dec, 17:29"), or with
 * `relative` how far off it is ("in 2 h"), for next and last runs; the exact time on hover.
 */
export function timeText(iso, { relative = false } = {}) {
  if (!iso) return '—';
  return h('time', { datetime: iso, title: iso }, relative ? relativeTime(iso) : readableTime(iso));
}

/** Milliseconds as "41 ms" or "2.3 s". */
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Seconds as "every 5 min", "every 2 h". */
export function interval(seconds) {
  if (!seconds) return '—';
  if (seconds % 86400 === 0) return `every ${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `every ${seconds / 3600} h`;
  if (seconds % 60 === 0) return `every ${seconds / 60} min`;
  return `every ${seconds} s`;
}

/** Whether an error means the server has no such endpoint (a feature not there yet). */
export function notAvailable(err) {
  return err instanceof ApiError && err.status === 404 && err.message === 'no such endpoint';
}

/** The sentence to show for a failed call. */
export function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

/** A titled card; `body` is where its content goes. */
export function section(id, title, intro) {
  const body = h('div', { class: 'm-section-body' });
  const el = h('section', { class: 'm-card', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, title),
    intro ? h('p', { class: 'm-intro' }, intro) : null,
    body);
  return { el, body };
}

/**
 * Load a section's data and render it into `body`; a missing endpoint says "not available",
 * a refusal or failure shows its sentence, and the rest of the page carries on.
 */
export async function load(body, loader, render) {
  replace(body, h('p', { class: 'm-muted' }, 'Loading…'));
  let data;
  try {
    data = await loader();
  } catch (err) {
    replace(body, unavailable(err));
    return false;
  }
  replace(body);
  render(data);
  return true;
}

/** The message a section shows instead of its content when its data cannot be read. */
export function unavailable(err) {
  if (notAvailable(err)) {
    return h('p', { class: 'm-muted m-unavailable' }, 'Not available on this server yet.');
  }
  return h('p', { class: 'm-error', role: 'alert' }, errorText(err));
}

/** A status line: `.busy()`, `.ok(text)`, `.error(errOrText)`, `.clear()`. */
export function statusLine() {
  const el = h('p', { class: 'm-status', role: 'status', 'aria-live': 'polite' });
  const set = (cls, text) => { el.className = `m-status ${cls}`; el.textContent = text; };
  return {
    el,
    busy: (text = 'Saving…') => set('m-busy', text),
    ok: (text) => set('m-ok', text),
    error: (err) => set('m-error', typeof err === 'string' ? err : errorText(err)),
    clear: () => set('', ''),
  };
}

/** A labelled control with an optional hint under it. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div', { class: 'm-field' },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'm-hint' }, hint) : null);
}

/** A <select> of `[value, label]` pairs with `value` chosen. */
export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map(([v, label]) =>
    h('option', { value: v, selected: v === value }, label)));
}

/** Comma- or newline-separated text as a list of trimmed, non-empty items. */
export function splitList(text) {
  return text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

/** A small coloured label. */
export function badge(text, kind = '') {
  return h('span', { class: `m-badge ${kind ? `m-badge-${kind}` : ''}` }, text);
}

/** A button that copies text to the clipboard and says so. */
export function copyButton(text, label = 'Copy') {
  const button = h('button', { type: 'button', class: 'm-button m-copy' }, label);
  button.addEventListener('click', async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      // No clipboard API (an insecure origin): copy through a selected, hidden textarea.
      const area = h('textarea', { class: 'm-offscreen', readonly: true }, text);
      document.body.appendChild(area);
      area.select();
      copied = document.execCommand('copy');
      area.remove();
    }
    button.textContent = copied ? 'Copied' : 'Select and copy it by hand';
    setTimeout(() => { button.textContent = label; }, 2000);
  });
  return button;
}

/** A secret Shoal shows only once (a token, a hook key), with a copy button and a warning. */
export function secretOnce(title, value, note) {
  const input = h('input', {
    type: 'text', class: 'm-secret-value', readonly: true, value, spellcheck: 'false',
    'aria-label': title, onfocus: (e) => e.target.select(),
  });
  return h('div', { class: 'm-secret', role: 'region', 'aria-label': title },
    h('p', { class: 'm-secret-title' }, title),
    h('div', { class: 'm-secret-row' }, input, copyButton(value)),
    h('p', { class: 'm-hint' }, note || 'Copy it now: it is shown only once and cannot be '
      + 'shown again.'));
}

/**
 * A button that asks again before acting: the first click turns it into "confirm", which
 * runs `action` (an async function); any failure goes to `status` when given.
 */
export function confirmButton(label, confirmLabel, action, { danger = false, status } = {}) {
  const cls = `m-button${danger ? ' m-danger' : ''}`;
  const button = h('button', { type: 'button', class: cls }, label);
  let armed = false;
  let timer = null;
  const disarm = () => { armed = false; button.textContent = label; button.classList.remove('m-armed'); };
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      button.classList.add('m-armed');
      clearTimeout(timer);
      timer = setTimeout(disarm, 5000);
      return;
    }
    clearTimeout(timer);
    disarm();
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      if (status) status.error(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** A plain action button running an async function, disabled while it runs. */
export function actionButton(label, action, { primary = false, status } = {}) {
  const button = h('button', { type: 'button', class: `m-button${primary ? ' m-primary' : ''}` },
    label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      if (status) status.error(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/**
 * A form whose submit runs `onSubmit(form)`: the submit button is disabled while it runs and
 * a failure shows in the form's own status line.
 */
export function form(attrs, children, onSubmit, submitLabel) {
  const status = statusLine();
  const submit = h('button', { type: 'submit', class: 'm-button m-primary' }, submitLabel);
  const el = h('form', { class: 'm-form', novalidate: true, ...attrs }, children,
    h('div', { class: 'm-actions' }, submit, status.el));
  keepAsDefaults(el);
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    status.busy(`${submitLabel}…`);
    try {
      await onSubmit(el, status);
    } catch (err) {
      status.error(err);
    } finally {
      submit.disabled = false;
    }
  });
  return { el, status };
}

/** Make the controls' current values their defaults, so `form.reset()` returns to them
 *  (h() sets values as properties, which reset() would otherwise discard). */
export function keepAsDefaults(el) {
  for (const control of el.querySelectorAll('input, textarea')) {
    if (control.type === 'checkbox' || control.type === 'radio') {
      control.defaultChecked = control.checked;
    } else {
      control.defaultValue = control.value;
    }
  }
  for (const option of el.querySelectorAll('option')) option.defaultSelected = option.selected;
}

/** A table with a header row; `rows` are arrays of cells (nodes or text). */
export function table(headers, rows, attrs = {}) {
  return h('div', { class: 'm-table-wrap' },
    h('table', { class: 'm-table', ...attrs },
      h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows.map((cells) => h('tr', null,
        cells.map((cell, i) => h('td', { 'data-label': headers[i] }, cell)))))));
}

/** An empty-state line. */
export function empty(text) {
  return h('p', { class: 'm-muted m-empty' }, text);
}

/** The page's heading with a subtitle and links (e.g. to the house's other pages). */
export function pageHeader(title, subtitle, links = []) {
  return h('header', { class: 'm-header' },
    h('div', null, h('h1', null, title), subtitle ? h('p', { class: 'm-subtitle' }, subtitle) : null),
    links.length ? h('nav', { class: 'm-links', 'aria-label': 'House pages' }, links) : null);
}

/** An in-app link: a real href (so it opens in a new tab too) that navigates in place. */
export function link(ctx, path, text, attrs = {}) {
  return h('a', {
    href: path,
    ...attrs,
    onclick: (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      ctx.navigate(path);
    },
  }, text);
}

/** The house and the caller's role in it, or a page-wide message when it cannot be read. */
export async function loadHouse(ctx, page) {
  try {
    const house = await ctx.api('GET', `/api/houses/${encodeURIComponent(ctx.params.houseId)}`);
    useTimeZone(house.timezone);
    return house;
  } catch (err) {
    append(page, h('div', { class: 'm-card' }, h('h1', null, 'House not available'),
      unavailable(err)));
    return null;
  }
}

/** A textarea for prompts: monospace, resizable, Tab indents (Escape then Tab leaves it). */
export function codeEditor(attrs) {
  const area = h('textarea', { class: 'm-editor', spellcheck: 'false', ...attrs });
  let leaving = false;
  area.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { leaving = true; return; }
    if (event.key !== 'Tab' || event.ctrlKey || event.altKey || event.metaKey) {
      leaving = false;
      return;
    }
    if (leaving) { leaving = false; return; } // let focus move on, for keyboard users
    event.preventDefault();
    indent(area, event.shiftKey);
  });
  return area;
}

const INDENT = '  ';

function indent(area, outdent) {
  const { value, selectionStart: start, selectionEnd: end } = area;
  if (!outdent && !value.slice(start, end).includes('\n')) {
    insertText(area, INDENT, start, end);
    return;
  }
  // Several lines (or Shift+Tab): indent or outdent each line the selection touches.
  const lineStart = value.lastIndexOf('\n', start - 1) + 1;
  const lines = value.slice(lineStart, end).split('\n');
  const changed = lines.map((line) => (outdent ? line.replace(/^ {1,2}/, '') : INDENT + line));
  const text = changed.join('\n');
  insertText(area, text, lineStart, end);
  area.setSelectionRange(lineStart, lineStart + text.length);
}

function insertText(area, text, start, end) {
  area.focus();
  area.setSelectionRange(start, end);
  // execCommand keeps the browser's undo history; setRangeText is the fallback.
  if (!document.execCommand || !document.execCommand('insertText', false, text)) {
    area.setRangeText(text, start, end, 'end');
    area.dispatchEvent(new Event('input', { bubbles: true }));
  }
}
