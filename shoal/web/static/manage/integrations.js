// House settings sections for what connects a house to other systems: inbound hooks (their
// key shown once), outbound webhook subscriptions with their delivery log, custom commands.
import { h, replace } from '../dom.js';
import {
  actionButton, badge, confirmButton, empty, field, form, load, secretOnce, section, select,
  splitList, statusLine, table, timeText,
} from './common.js';

function adminsOnly(card, who = 'house admins') {
  card.body.append(empty(`Only ${who} can see and change these.`));
  return { el: card.el, ready: Promise.resolve() };
}

function roomChecks(rooms, name, checked = []) {
  return h('div', { class: 'm-checks', role: 'group', 'aria-label': 'Rooms' },
    rooms.map((r) => h('label', { class: 'm-check' },
      h('input', { type: 'checkbox', name, value: r.id, checked: checked.includes(r.id) }),
      ` #${r.name}`)));
}

function checkedValues(el, name) {
  return [...el.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

/** Every URL a hook receives on: its key's messages endpoint, and GitHub, Sentry, generic. */
function receivers(hook) {
  return h('ul', { class: 'm-endpoints' }, Object.entries(hook.endpoints || {}).map(([kind, path]) =>
    h('li', null, h('span', { class: 'm-muted' }, `${kind} `),
      h('code', null, new URL(path, location.origin).href))));
}

/** Active (and when its key was last rotated), or revoked and since when. */
function hookState(hook) {
  if (hook.revoked_at) return h('span', null, badge('revoked', 'muted'), ' ', timeText(hook.revoked_at));
  return h('span', null, badge('active', 'ok'), hook.rotated_at
    ? [' ', h('span', { class: 'm-small-text' }, 'key rotated ', timeText(hook.rotated_at))] : null);
}

/** Hooks: an external system posts into rooms with the hook's key. */
export function hooksSection({ ctx, houseId, isAdmin, lookups }, id) {
  const card = section(id, 'Hooks', 'An inbound endpoint: another system (CI, monitoring, '
    + 'GitHub, Sentry) posts messages into some rooms with the hook\'s key; agents it '
    + '@mentions wake up.');
  if (!isAdmin) return adminsOnly(card);
  const list = h('div');
  const shown = h('div', { class: 'm-result', 'aria-live': 'polite' });
  const status = statusLine();
  let rooms = [];
  const show = (title, r) => replace(shown, secretOnce(title, r.key),
    r.secret ? secretOnce(`Signing secret of ${r.name}`, r.secret,
      'For GitHub and Sentry deliveries. Shown only now.') : null);
  const refresh = () => load(list, async () => {
    rooms = await lookups.rooms();
    return ctx.api('GET', `/api/houses/${houseId}/hooks`);
  }, (hooks) => {
    const names = new Map(rooms.map((r) => [r.id, r.name]));
    list.append(hooks.length ? table(['Hook', 'Rooms', 'Receivers', 'Created', 'State', ''],
      hooks.map((hook) => [
        h('strong', null, hook.name),
        hook.room_ids.map((r) => `#${names.get(r) || r}`).join(', ') || '—',
        hook.revoked_at ? '—' : receivers(hook),
        timeText(hook.created_at),
        hookState(hook),
        hook.revoked_at ? '' : h('span', { class: 'm-row-actions' },
          confirmButton('Rotate key', 'Old key stops now. Rotate?', async () => {
            const r = await ctx.api('POST', `/api/houses/${houseId}/hooks/${hook.id}/rotate`);
            show(`New key of ${hook.name}`, r);
            refresh();
          }, { status }),
          confirmButton('Revoke', 'Revoke it?', async () => {
            await ctx.api('DELETE', `/api/houses/${houseId}/hooks/${hook.id}`);
            refresh();
          }, { danger: true, status })),
      ]), { 'aria-label': 'Hooks' }) : empty('No hooks yet.'), status.el);
    drawForm();
  });
  const formBox = h('div');
  function drawForm() {
    const name = h('input', { name: 'hook_name', maxlength: 64, placeholder: 'ci' });
    const template = h('textarea', { name: 'hook_template', rows: 2,
      placeholder: 'Optional: {{title}} in {{repo}} — for the generic receiver' });
    const checks = roomChecks(rooms, 'hook_room');
    const { el } = form({ 'aria-label': 'New hook' }, [
      h('div', { class: 'm-grid' }, field('Name', name)),
      h('div', { class: 'm-field' }, h('span', { class: 'm-label' }, 'Rooms it may post to'), checks),
      field('Template', template)],
    async (formEl, formStatus) => {
      const chosen = checkedValues(formEl, 'hook_room');
      if (!chosen.length) { formStatus.error('Choose at least one room.'); return; }
      const r = await ctx.api('POST', `/api/houses/${houseId}/hooks`,
        { name: name.value.trim(), rooms: chosen, template: template.value });
      show(`Key of ${r.name}`, r);
      formStatus.ok('Hook created.');
      refresh();
    }, 'Create hook');
    replace(formBox, h('details', { class: 'm-disclosure' }, h('summary', null, 'New hook'), el));
  }
  card.body.append(shown, list, formBox);
  return { el: card.el, ready: refresh() };
}

/** Webhook subscriptions: house-wide and per room, each with its delivery log. */
export function subscriptionsSection({ ctx, houseId, isAdmin, lookups }, id) {
  const card = section(id, 'Webhook subscriptions', 'Outbound: room events are POSTed, '
    + 'signed, to a URL. Failed deliveries are retried and logged.');
  if (!isAdmin) return adminsOnly(card);
  const list = h('div');
  const shown = h('div', { class: 'm-result', 'aria-live': 'polite' });
  const status = statusLine();
  const formBox = h('div');
  let rooms = [];
  let catalog = null;
  const base = (sub) => (sub.agency_id
    ? `/api/webhook-subscriptions/${encodeURIComponent(sub.agency_id)}`
    : `/api/houses/${houseId}/webhook-subscriptions`);

  const refresh = () => load(list, async () => {
    rooms = await lookups.rooms();
    const house = await ctx.api('GET', `/api/houses/${houseId}/webhook-subscriptions`);
    catalog ??= await ctx.api('GET', '/api/webhook-subscriptions/meta/events').catch(() => null);
    // Room subscriptions live under each room; a room the caller may not moderate has none.
    const perRoom = await Promise.all(rooms.map((r) => ctx.api('GET',
      `/api/webhook-subscriptions/${encodeURIComponent(r.id)}`).catch(() => [])));
    return [...house, ...perRoom.flat()];
  }, (subs) => {
    const names = new Map(rooms.map((r) => [r.id, r.name]));
    list.append(subs.length ? h('div', { class: 'm-subscriptions' }, subs.map((sub) => h('details',
      { class: 'm-subscription', dataset: { id: sub.id },
        ontoggle: (e) => { if (e.target.open) deliveries(e.target.querySelector('.m-deliveries'), sub); } },
      h('summary', null, h('code', null, sub.url), ' ',
        badge(sub.agency_id ? `#${names.get(sub.agency_id) || 'room'}` : 'whole house', 'muted'), ' ',
        sub.enabled ? badge('enabled', 'ok') : badge('disabled', 'warn'),
        sub.failing_since ? [' ', badge('failing', 'error')] : null),
      h('dl', { class: 'm-dl' },
        h('dt', null, 'Events'), h('dd', null, sub.events.join(', ')),
        sub.description ? [h('dt', null, 'Description'), h('dd', null, sub.description)] : null,
        sub.disabled_reason ? [h('dt', null, 'Disabled because'), h('dd', null, sub.disabled_reason)]
          : null,
        sub.failing_since ? [h('dt', null, 'Failing since'), h('dd', null, timeText(sub.failing_since))]
          : null),
      h('div', { class: 'm-row-actions' },
        actionButton(sub.enabled ? 'Disable' : 'Enable', async () => {
          await ctx.api('PATCH', `${base(sub)}/${sub.id}`, { enabled: !sub.enabled });
          refresh();
        }, { status }),
        confirmButton('Delete', 'Delete it and its log?', async () => {
          await ctx.api('DELETE', `${base(sub)}/${sub.id}`);
          refresh();
        }, { danger: true, status })),
      h('h4', null, 'Delivery log'),
      h('div', { class: 'm-deliveries' }, h('p', { class: 'm-muted' }, 'Loading…')))))
      : empty('No subscriptions yet.'), status.el);
    drawForm();
  });

  const deliveries = (box, sub) => load(box, () => ctx.api('GET',
    `${base(sub)}/${sub.id}/deliveries?limit=50`), (rows) => {
    box.append(rows.length ? table(['Event', 'Status', 'Attempts', 'Last answer', 'Created', 'Next'],
      rows.map((d) => [d.event,
        badge(d.status, { delivered: 'ok', failed: 'error', pending: 'pending' }[d.status] || ''),
        String(d.attempt_count),
        d.last_error || (d.last_status_code ? `HTTP ${d.last_status_code}` : '—'),
        timeText(d.created_at),
        d.next_attempt_at ? timeText(d.next_attempt_at, { relative: true }) : '—']), { 'aria-label': 'Deliveries' })
      : empty('Nothing delivered yet.'));
  });

  function drawForm() {
    const url = h('input', { name: 'sub_url', type: 'url', placeholder: 'https://example.com/events' });
    const scope = select([['', 'The whole house'], ...rooms.map((r) => [r.id, `#${r.name}`])], '',
      { name: 'sub_scope' });
    const description = h('input', { name: 'sub_description', maxlength: 500 });
    const secret = h('input', { name: 'sub_secret', type: 'password', autocomplete: 'new-password',
      placeholder: 'leave empty to have one generated' });
    const events = (catalog?.details || []).filter((e) => e.sent);
    const checks = h('div', { class: 'm-checks', role: 'group', 'aria-label': 'Events' },
      events.map((e) => h('label', { class: 'm-check', title: e.description },
        h('input', { type: 'checkbox', name: 'sub_event', value: e.event,
          checked: e.event === 'message.created' }), ` ${e.event}`)));
    const { el } = form({ 'aria-label': 'New subscription' }, [
      h('div', { class: 'm-grid' }, field('URL', url), field('Events of', scope)),
      h('div', { class: 'm-field' }, h('span', { class: 'm-label' }, 'Events'),
        events.length ? checks : h('p', { class: 'm-muted' }, 'The event list is not available.')),
      h('div', { class: 'm-grid' }, field('Description', description),
        field('Signing secret', secret))],
    async (formEl, formStatus) => {
      const body = { url: url.value.trim(), events: checkedValues(formEl, 'sub_event') };
      if (description.value.trim()) body.description = description.value.trim();
      if (secret.value) body.secret = secret.value;
      const path = scope.value ? `/api/webhook-subscriptions/${encodeURIComponent(scope.value)}`
        : `/api/houses/${houseId}/webhook-subscriptions`;
      const r = await ctx.api('POST', path, body);
      replace(shown, r.secret ? secretOnce('Signing secret of the new subscription', r.secret)
        : null);
      formStatus.ok('Subscribed.');
      refresh();
    }, 'Subscribe');
    replace(formBox, h('details', { class: 'm-disclosure' }, h('summary', null, 'New subscription'), el));
  }
  card.body.append(shown, list, formBox);
  return { el: card.el, ready: refresh() };
}

const PERMISSIONS = [['open', 'Anyone'], ['closed', 'House owners only'],
  ['whitelist', 'Listed usernames']];

/** Custom commands: `/name` in every room of the house, answered by a webhook. */
export function commandsSection({ ctx, houseId, isOwner }, id) {
  const card = section(id, 'Custom commands', 'The house\'s own slash commands: /name in any '
    + 'room of the house is POSTed to a webhook, whose answer is shown.');
  if (!isOwner) return adminsOnly(card, 'house owners');
  const list = h('div');
  const status = statusLine();
  const path = `/api/custom-commands/${houseId}/commands`;
  const refresh = () => load(list, () => ctx.api('GET', path), (commands) => {
    list.append(commands.length ? h('div', { class: 'm-commands' }, commands.map((c) =>
      h('details', { class: 'm-command', dataset: { id: c.id } },
        h('summary', null, h('code', null, `/${c.name}`), ' ', c.description || '',
          ' ', badge(PERMISSIONS.find(([v]) => v === c.invoke_permission)?.[1] || c.invoke_permission,
            'muted')),
        commandForm(ctx, c, async (body) => {
          await ctx.api('PATCH', `${path}/${c.id}`, body);
          refresh();
        }),
        h('div', { class: 'm-row-actions' }, confirmButton('Delete', `Delete /${c.name}?`, async () => {
          await ctx.api('DELETE', `${path}/${c.id}`);
          refresh();
        }, { danger: true, status }))))) : empty('No custom commands yet.'), status.el);
  });
  const create = commandForm(ctx, null, async (body) => {
    await ctx.api('POST', path, body);
    refresh();
  });
  card.body.append(list, h('details', { class: 'm-disclosure' }, h('summary', null, 'New command'),
    create));
  return { el: card.el, ready: refresh().then((ok) => {
    if (!ok) create.closest('details')?.remove();
  }) };
}

function commandForm(ctx, command, save) {
  const c = command || { name: '', webhook_url: '', description: '', invoke_permission: 'open',
    invoke_whitelist: [] };
  const name = h('input', { name: 'cmd_name', maxlength: 32, value: c.name, placeholder: 'deploy' });
  const url = h('input', { name: 'cmd_url', type: 'url', value: c.webhook_url,
    placeholder: 'https://example.com/commands/deploy' });
  const description = h('input', { name: 'cmd_description', value: c.description });
  const permission = select(PERMISSIONS, c.invoke_permission, { name: 'cmd_permission' });
  const whitelist = h('input', { name: 'cmd_whitelist', value: c.invoke_whitelist.join(', '),
    placeholder: 'ada, grace' });
  const secret = h('input', { name: 'cmd_secret', type: 'password', autocomplete: 'new-password',
    placeholder: command?.has_secret ? 'set (type to replace)' : 'optional' });
  const { el } = form({ 'aria-label': command ? `Edit /${c.name}` : 'New command' }, [
    h('div', { class: 'm-grid' }, field('Name', name), field('Webhook URL', url),
      field('Description', description), field('Who may run it', permission),
      field('Usernames (whitelist)', whitelist), field('Signing secret', secret))],
  async (formEl, formStatus) => {
    const body = { name: name.value.trim().replace(/^\//, ''), webhook_url: url.value.trim(),
      description: description.value.trim(), invoke_permission: permission.value,
      invoke_whitelist: splitList(whitelist.value).map((u) => u.replace(/^@/, '')) };
    if (secret.value) body.secret = secret.value;
    await save(body);
    formStatus.ok(command ? 'Saved.' : `Added /${body.name}.`);
    if (!command) formEl.reset();
  }, command ? 'Save' : 'Add command');
  return el;
}
