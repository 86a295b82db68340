// House settings sections for scheduled work: heartbeats (an agent prompted in a room every
// interval) and cron jobs, each with its next and last run.
import { h } from '../dom.js';
import {
  actionButton, badge, confirmButton, empty, field, form, interval, load, section, select,
  statusLine, table, timeText,
} from './common.js';

function adminsOnly(card) {
  card.body.append(empty('Only house admins can see and change these.'));
  return { el: card.el, ready: Promise.resolve() };
}

/** Rooms and bots for a section's names and its form's choices. */
async function names(lookups) {
  const [rooms, members] = await Promise.all([lookups.rooms(), lookups.members()]);
  return {
    rooms,
    bots: members.filter((m) => m.type === 'agent'),
    room: new Map(rooms.map((r) => [r.id, `#${r.name}`])),
  };
}

function switchButton(ctx, path, item, refresh, status) {
  return actionButton(item.enabled ? 'Turn off' : 'Turn on', async () => {
    await ctx.api('PATCH', path, { enabled: !item.enabled });
    refresh();
  }, { status });
}

/** Heartbeats: an agent is prompted in a room every interval (60 s to 7 d). */
export function heartbeatsSection({ ctx, houseId, isAdmin, lookups }, id) {
  const card = section(id, 'Heartbeats', 'An agent is prompted in a room on a rhythm, to '
    + 'check in and report only what needs attention.');
  if (!isAdmin) return adminsOnly(card);
  const list = h('div');
  const formBox = h('div');
  const status = statusLine();
  let known;
  const refresh = () => load(list, async () => {
    known = await names(lookups);
    return ctx.api('GET', `/api/houses/${houseId}/heartbeats`);
  }, (beats) => {
    list.append(beats.length ? table(['Agent', 'Room', 'Every', 'Next', 'Last', 'State', ''],
      beats.map((b) => [`@${b.agent_handle || b.agentId}`, known.room.get(b.agencyId) || '—',
        b.interval ? `every ${b.interval}` : interval(b.interval_seconds),
        b.enabled && b.next_run_at ? timeText(b.next_run_at, { relative: true }) : '—',
        b.last_run_at ? timeText(b.last_run_at, { relative: true }) : 'never',
        b.enabled ? badge('on', 'ok') : badge('off', 'muted'),
        h('span', { class: 'm-row-actions' },
          switchButton(ctx, `/api/heartbeats/${b.id}`, b, refresh, status),
          confirmButton('Delete', 'Delete it?', async () => {
            await ctx.api('DELETE', `/api/heartbeats/${b.id}`);
            refresh();
          }, { danger: true, status }))]),
      { 'aria-label': 'Heartbeats' }) : empty('No heartbeats yet.'), status.el);
    drawForm();
  });
  function drawForm() {
    if (!known.bots.length || !known.rooms.length) {
      formBox.replaceChildren(empty('A heartbeat needs a bot and a room.'));
      return;
    }
    const agent = select(known.bots.map((b) => [`@${b.handle}`, `@${b.handle}`]),
      `@${known.bots[0].handle}`, { name: 'hb_agent' });
    const room = select(known.rooms.map((r) => [r.id, `#${r.name}`]), known.rooms[0].id,
      { name: 'hb_room' });
    const every = h('input', { name: 'hb_interval', value: '1h', placeholder: '30m, 1h, 1d' });
    const prompt = h('textarea', { name: 'hb_prompt', rows: 2, placeholder: 'Optional: what to check' });
    const { el } = form({ 'aria-label': 'New heartbeat' }, [h('div', { class: 'm-grid' },
      field('Agent', agent), field('Room', room), field('Every', every, '60s to 7d')),
    field('Prompt', prompt)], async (_, formStatus) => {
      const body = { agent: agent.value, interval: every.value.trim() };
      if (prompt.value.trim()) body.prompt = prompt.value.trim();
      await ctx.api('POST', `/api/agencies/${encodeURIComponent(room.value)}/heartbeats`, body);
      formStatus.ok('Heartbeat set.');
      refresh();
    }, 'Set heartbeat');
    formBox.replaceChildren(h('details', { class: 'm-disclosure' },
      h('summary', null, 'New heartbeat'), el));
  }
  card.body.append(list, formBox);
  return { el: card.el, ready: refresh() };
}

/** Cron jobs: an agent turn on a cron expression, every N, or once at a time. */
export function cronSection({ ctx, houseId, isAdmin, lookups }, id) {
  const card = section(id, 'Cron jobs', 'An agent runs a prompt on a schedule in a session of '
    + 'its own; the answer goes to the room, or nowhere if the job is silent.');
  if (!isAdmin) return adminsOnly(card);
  const list = h('div');
  const formBox = h('div');
  const status = statusLine();
  let known;
  const refresh = () => load(list, async () => {
    known = await names(lookups);
    return ctx.api('GET', `/api/houses/${houseId}/cron-jobs`);
  }, (jobs) => {
    list.append(jobs.length ? table(['Job', 'Agent', 'Room', 'Schedule', 'Next', 'Last', ''],
      jobs.map((j) => [
        h('span', { title: j.prompt }, h('code', null, j.short_id || j.id.slice(0, 8)), ' ',
          j.enabled ? badge('on', 'ok') : badge('off', 'muted'),
          j.deliver ? null : [' ', badge('silent', 'muted')]),
        `@${j.agent_handle || j.agentId}`, known.room.get(j.agencyId) || '—',
        j.kind === 'at' ? h('span', null, 'once at ', timeText(j.at))
          : j.schedule || j.expression || interval(j.every_seconds),
        j.enabled && j.next_run_at ? timeText(j.next_run_at, { relative: true }) : '—',
        j.last_run_at ? h('span', null, timeText(j.last_run_at, { relative: true }), ' ',
          j.last_outcome ? badge(j.last_outcome, j.last_outcome === 'error' ? 'error' : 'ok') : null,
          j.last_error ? h('span', { class: 'm-a-error', title: j.last_error }, ` ${j.last_error}`)
            : null) : 'never',
        h('span', { class: 'm-row-actions' },
          j.enabled ? actionButton('Run now', async () => {
            await ctx.api('POST', `/api/cron-jobs/${j.id}/run`);
            status.ok('Queued: it runs in a moment.');
          }, { status }) : null,
          switchButton(ctx, `/api/cron-jobs/${j.id}`, j, refresh, status),
          confirmButton('Delete', 'Delete it?', async () => {
            await ctx.api('DELETE', `/api/cron-jobs/${j.id}`);
            refresh();
          }, { danger: true, status }))]),
      { 'aria-label': 'Cron jobs' }) : empty('No cron jobs yet.'), status.el);
    drawForm();
  });
  function drawForm() {
    if (!known.bots.length || !known.rooms.length) {
      formBox.replaceChildren(empty('A cron job needs a bot and a room.'));
      return;
    }
    const agent = select(known.bots.map((b) => [`@${b.handle}`, `@${b.handle}`]),
      `@${known.bots[0].handle}`, { name: 'cron_agent' });
    const room = select(known.rooms.map((r) => [r.id, `#${r.name}`]), known.rooms[0].id,
      { name: 'cron_room' });
    const kind = select([['cron', 'Cron expression'], ['every', 'Every'], ['at', 'Once at']], 'cron',
      { name: 'cron_kind' });
    const when = h('input', { name: 'cron_when', value: '0 9 * * 1-5',
      placeholder: '0 9 * * 1-5 · 30m · 2026-01-31T09:00Z' });
    const tz = h('input', { name: 'cron_tz', value: Intl.DateTimeFormat().resolvedOptions().timeZone
      || 'UTC' });
    const prompt = h('textarea', { name: 'cron_prompt', rows: 2, placeholder: 'Summarize yesterday' });
    const deliver = h('input', { type: 'checkbox', name: 'cron_deliver', checked: true });
    const { el } = form({ 'aria-label': 'New cron job' }, [h('div', { class: 'm-grid' },
      field('Agent', agent), field('Room', room), field('Schedule', kind), field('When', when),
      field('Time zone', tz)), field('Prompt', prompt),
    h('label', { class: 'm-check' }, deliver, ' Post the answer in the room')],
    async (_, formStatus) => {
      const body = { agent: agent.value, prompt: prompt.value.trim(), tz: tz.value.trim() || 'UTC',
        deliver: deliver.checked, [kind.value]: when.value.trim() };
      await ctx.api('POST', `/api/agencies/${encodeURIComponent(room.value)}/cron-jobs`, body);
      formStatus.ok('Cron job added.');
      refresh();
    }, 'Add cron job');
    formBox.replaceChildren(h('details', { class: 'm-disclosure' },
      h('summary', null, 'New cron job'), el));
  }
  card.body.append(list, formBox);
  return { el: card.el, ready: refresh() };
}
