// A bot's activation log: filters (room, outcome, since), one expandable entry per
// activation with its trigger, outcome, skip reason, model, tokens, duration, tool calls and
// error.
import { h, replace } from '../dom.js';
import { badge, duration, empty, errorText, link, select, timeText } from './common.js';

const OUTCOMES = [['', 'Any outcome'], ['replied', 'Replied'], ['skipped', 'Skipped'],
  ['error', 'Error'], ['delivered', 'Delivered'], ['pending', 'Pending or running']];
const SINCE = [['', 'Any time'], ['3600', 'Last hour'], ['86400', 'Last 24 hours'],
  ['604800', 'Last 7 days'], ['custom', 'Since…']];
const PAGE = 50;
const MAX = 200;
const REFRESH_MS = 10000;

/** The log for one bot; `rooms` are the house's rooms (for names and the room filter). */
export function activationLog(ctx, botId, rooms) {
  const roomNames = new Map(rooms.map((r) => [r.id, r.name]));
  const room = select([['', 'All rooms'], ...rooms.map((r) => [r.id, `#${r.name}`])], '',
    { 'aria-label': 'Room', name: 'room' });
  const outcome = select(OUTCOMES, '', { 'aria-label': 'Outcome', name: 'outcome' });
  const since = select(SINCE, '', { 'aria-label': 'Since', name: 'since' });
  const sinceAt = h('input', { type: 'datetime-local', 'aria-label': 'Since (date and time)',
    name: 'since_at', hidden: true });
  const refresh = h('button', { type: 'button', class: 'm-button m-small' }, 'Refresh');
  const more = h('button', { type: 'button', class: 'm-button m-small', hidden: true }, 'Show more');
  const summary = h('p', { class: 'm-muted', 'aria-live': 'polite' });
  const list = h('div', { class: 'm-activations', role: 'list', 'aria-label': 'Activations' });
  const el = h('div', { class: 'm-activation-log' },
    h('div', { class: 'm-toolbar', role: 'search' }, room, outcome, since, sinceAt, refresh),
    summary, list, more);

  let limit = PAGE;
  let shown = '';
  const open = new Set(); // entries the reader expanded stay open across refreshes

  function query() {
    const params = new URLSearchParams({ limit: String(limit) });
    if (room.value) params.set('roomId', room.value);
    if (outcome.value) params.set('outcome', outcome.value);
    let from = null;
    if (since.value === 'custom' && sinceAt.value) from = new Date(sinceAt.value);
    else if (since.value && since.value !== 'custom') {
      from = new Date(Date.now() - Number(since.value) * 1000);
    }
    if (from && !Number.isNaN(from.getTime())) params.set('since', from.toISOString());
    return `/api/agents/${encodeURIComponent(botId)}/activations?${params}`;
  }

  async function reload() {
    let rows;
    try {
      rows = await ctx.api('GET', query());
    } catch (err) {
      replace(list, h('p', { class: 'm-error', role: 'alert' }, errorText(err)));
      shown = '';
      return;
    }
    const key = JSON.stringify(rows);
    if (key === shown) return; // unchanged: keep the reader's place and open entries
    shown = key;
    summary.textContent = rows.length ? `${rows.length} activation${rows.length === 1 ? '' : 's'}, `
      + 'newest first.' : '';
    more.hidden = rows.length < limit || limit >= MAX;
    replace(list, rows.length ? rows.map((a) => entry(ctx, a, roomNames, open))
      : empty('No activations match. Mention the bot in a room to wake it.'));
  }

  const changed = () => { limit = PAGE; reload(); };
  room.addEventListener('change', changed);
  outcome.addEventListener('change', changed);
  since.addEventListener('change', () => {
    sinceAt.hidden = since.value !== 'custom';
    changed();
  });
  sinceAt.addEventListener('change', changed);
  refresh.addEventListener('click', () => { shown = ''; reload(); });
  more.addEventListener('click', () => { limit = Math.min(MAX, limit + PAGE); reload(); });

  // Keep the log fresh while it is on screen; stop once the page is gone.
  const timer = setInterval(() => {
    if (!el.isConnected) clearInterval(timer);
    else if (document.visibilityState === 'visible') reload();
  }, REFRESH_MS);
  reload();
  return el;
}

function outcomeBadge(a) {
  if (!a.outcome) return badge(a.status === 'running' ? 'running' : 'pending', 'pending');
  const kind = { replied: 'ok', delivered: 'ok', skipped: 'muted', error: 'error' }[a.outcome];
  return badge(a.outcome, kind || '');
}

function tokens(a) {
  if (a.input_tokens == null && a.output_tokens == null) return '—';
  return `${a.input_tokens ?? 0} in / ${a.output_tokens ?? 0} out`;
}

function entry(ctx, a, roomNames, open) {
  const roomName = roomNames.get(a.room_id);
  const details = h('details', { class: 'm-activation', role: 'listitem', open: open.has(a.id),
    dataset: { id: a.id, outcome: a.outcome || 'pending' } },
  h('summary', null,
    h('span', { class: 'm-a-when' }, timeText(a.created_at, { relative: true })),
    h('span', { class: 'm-a-room' }, roomName ? `#${roomName}` : 'a room'),
    h('span', { class: 'm-a-kind' }, a.trigger_kind),
    outcomeBadge(a),
    a.skip_reason ? h('span', { class: 'm-a-reason' }, a.skip_reason) : null,
    a.error ? h('span', { class: 'm-a-error' }, 'error') : null,
    h('span', { class: 'm-a-duration m-muted' }, duration(a.duration_ms))),
  h('dl', { class: 'm-dl' },
    item('Trigger', [a.trigger_kind, ' · message ', h('code', null, a.trigger_message_id),
      roomName ? [' in ', link(ctx, `/rooms/${encodeURIComponent(a.room_id)}`, `#${roomName}`)]
        : null]),
    item('Status', a.status),
    item('Outcome', a.outcome || 'not finished'),
    item('Skip reason', a.skip_reason || '—'),
    item('Model', a.model || '—'),
    item('Tokens', tokens(a)),
    item('Duration', duration(a.duration_ms)),
    item('Attempts', String(a.attempts ?? 0)),
    a.tools && a.tools.length ? item('Tools', toolCalls(a.tools)) : null,
    item('Created', timeText(a.created_at)),
    item('Started', timeText(a.started_at)),
    item('Finished', timeText(a.finished_at)),
    a.reply_message_id ? item('Reply', h('code', null, a.reply_message_id)) : null,
    a.error ? item('Error', h('pre', { class: 'm-pre m-error-text' }, a.error)) : null));
  details.addEventListener('toggle', () => {
    if (details.open) open.add(a.id);
    else open.delete(a.id);
  });
  return details;
}

/** Each tool call in order: its name, how it ended and how long it took. */
function toolCalls(calls) {
  return h('ol', { class: 'm-tool-calls', 'aria-label': 'Tool calls' },
    calls.map((c) => h('li', { dataset: { status: c.status } },
      h('code', null, c.name), ' ',
      badge(c.status, c.status === 'done' ? 'ok' : 'error'), ' ',
      h('span', { class: 'm-muted' }, duration(c.duration_ms)))));
}

function item(term, value) {
  return [h('dt', null, term), h('dd', null, value)];
}
