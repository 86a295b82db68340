// /house/{houseId}/settings: the house, its members and roles, invites, model keys, models
// and agents, then hooks, webhook subscriptions, custom commands, MCP servers, heartbeats and
// cron jobs.
// Each section loads on its own, so one that is not available (or not allowed) never breaks
// the page.
import { h, replace } from '../dom.js';
import {
  ROLES, badge, confirmButton, empty, field, form, link, load, loadHouse, pageHeader, rank,
  secretOnce, section, select, statusLine, table, timeText,
} from './common.js';
import { modelsSection } from './housemodels.js';
import { mcpSection } from './mcp.js';
import { commandsSection, hooksSection, subscriptionsSection } from './integrations.js';
import { cronSection, heartbeatsSection } from './schedules.js';

const PROVIDERS = ['anthropic', 'openai', 'google', 'openrouter', 'ollama'];

/** Render the settings page into `root`. */
export async function mount(root, ctx) {
  const page = h('div', { class: 'manage m-settings' });
  replace(root, page);
  const house = await loadHouse(ctx, page);
  if (!house) return;
  const base = `/house/${encodeURIComponent(house.id)}`;
  document.title = `Settings · ${house.name} · Shoal`;
  const env = { ctx, house, houseId: encodeURIComponent(house.id), role: house.role,
    isAdmin: rank(house.role) >= rank('admin'), isOwner: house.role === 'owner' };
  env.lookups = lookups(env);

  const parts = [
    ['general', 'House', generalSection],
    ['members', 'Members', membersSection],
    ['invites', 'Invites', invitesSection],
    ['keys', 'Model keys', keysSection],
    ['models', 'Models and agents', modelsSection],
    ['hooks', 'Hooks', hooksSection],
    ['webhooks', 'Webhooks', subscriptionsSection],
    ['commands', 'Commands', commandsSection],
    ['mcp', 'MCP servers', mcpSection],
    ['heartbeats', 'Heartbeats', heartbeatsSection],
    ['cron', 'Cron jobs', cronSection],
  ];
  page.append(pageHeader('House settings',
    `${house.name} · you are ${house.role} · times in ${house.timezone || 'UTC'}`, [
    link(ctx, `${base}/agents`, 'Agents'),
    link(ctx, `${base}/settings`, 'Settings', { 'aria-current': 'page' }),
  ]), h('nav', { class: 'm-toc', 'aria-label': 'Sections' },
    parts.map(([id, label]) => h('a', { href: `#s-${id}`, onclick: (e) => {
      e.preventDefault();
      document.getElementById(`s-${id}`)?.scrollIntoView({ behavior: 'smooth' });
    } }, label))));
  const columns = h('div', { class: 'm-sections' });
  page.append(columns);
  await Promise.all(parts.map(([id, , build]) => {
    const card = build(env, `s-${id}`);
    columns.append(card.el);
    return card.ready;
  }));
}

/** Rooms and members by id, fetched once and shared by the sections that name them. */
function lookups({ ctx, houseId }) {
  let rooms;
  let members;
  return {
    rooms: () => (rooms ??= ctx.api('GET', `/api/houses/${houseId}/agencies`)
      .then((list) => list.filter((r) => !r.dm))),
    members: () => (members ??= ctx.api('GET', `/api/houses/${houseId}/members`)),
  };
}

function generalSection({ ctx, house, houseId, isOwner }, id) {
  const card = section(id, 'House', isOwner ? 'Its name, and the description every bot here '
    + 'reads first in its system prompt.' : 'Only the house\'s owners can change these.');
  const name = h('input', { name: 'house_name', value: house.name, maxlength: 64, disabled: !isOwner });
  const description = h('textarea', { name: 'house_description', rows: 4, maxlength: 4000,
    disabled: !isOwner }, house.description || '');
  if (!isOwner) {
    card.body.append(field('Name', name), field('Description', description));
    return { el: card.el, ready: Promise.resolve() };
  }
  const { el } = form({ 'aria-label': 'House' }, [field('Name', name),
    field('Description', description, 'Prepended to every bot\'s system prompt in this house.')],
  async (_, status) => {
    const r = await ctx.api('PATCH', `/api/houses/${houseId}`,
      { name: name.value.trim(), description: description.value });
    house.name = r.name;
    status.ok('Saved.');
  }, 'Save');
  card.body.append(el);
  return { el: card.el, ready: Promise.resolve() };
}

function membersSection(env, id) {
  const { ctx, houseId, isAdmin, isOwner } = env;
  const card = section(id, 'Members and roles', isAdmin
    ? 'Admins manage guests and members; owners manage everyone.'
    : 'Only house admins can change roles.');
  const status = statusLine();
  const refresh = () => load(card.body, () => ctx.api('GET', `/api/houses/${houseId}/members`),
    (rows) => {
      card.body.append(table(['Member', 'Kind', 'Role', ''], rows.map((m) => {
        const mine = m.id === ctx.user.id;
        const canManage = isAdmin && !mine && (isOwner || rank(m.role) < rank('admin'));
        const choices = ROLES.filter((r) => isOwner || rank(r) < rank('admin'));
        const role = canManage ? select(choices.map((r) => [r, r]), m.role, {
          'aria-label': `Role of @${m.handle}`,
          onchange: async (e) => {
            try {
              await ctx.api('PATCH', `/api/houses/${houseId}/members/${encodeURIComponent(m.id)}`,
                { role: e.target.value });
              status.ok(`@${m.handle} is now ${e.target.value}.`);
            } catch (err) {
              e.target.value = m.role;
              status.error(err);
            }
          },
        }) : badge(m.role, m.role);
        return [
          h('span', null, h('strong', null, m.display_name || m.username), ' ',
            h('span', { class: 'm-handle' }, `@${m.handle}`), mine ? ' (you)' : ''),
          m.type === 'agent' ? 'Bot' : 'Person',
          role,
          canManage ? confirmButton('Remove', `Remove @${m.handle}?`, async () => {
            await ctx.api('DELETE', `/api/houses/${houseId}/members/${encodeURIComponent(m.id)}`);
            status.ok(`Removed @${m.handle}.`);
            refresh();
          }, { danger: true, status }) : '',
        ];
      }), { 'aria-label': 'Members' }), status.el);
    });
  return { el: card.el, ready: refresh() };
}

function invitesSection({ ctx, houseId, isAdmin, isOwner }, id) {
  const card = section(id, 'Invites', 'A code lets someone register into this house, or join '
    + 'it with an account they already have.');
  if (!isAdmin) {
    card.body.append(empty('Only house admins can see and create invites.'));
    return { el: card.el, ready: Promise.resolve() };
  }
  const list = h('div');
  const shown = h('div', { class: 'm-result', 'aria-live': 'polite' });
  const status = statusLine();
  const roles = ROLES.filter((r) => r !== 'owner' && (isOwner || rank(r) < rank('admin')));
  const role = select(roles.map((r) => [r, r]), 'member', { name: 'invite_role' });
  const expires = h('input', { name: 'invite_expires', placeholder: 'e.g. 7d (default: never)' });
  const uses = h('input', { name: 'invite_uses', type: 'number', min: 1, placeholder: 'unlimited' });
  const refresh = () => load(list, () => ctx.api('GET', `/api/houses/${houseId}/invites`),
    (rows) => {
      list.append(rows.length ? table(['Role', 'Uses', 'Created', 'Expires', 'State', ''],
        rows.slice().reverse().map((i) => [badge(i.role, i.role),
          `${i.uses}${i.max_uses ? ` / ${i.max_uses}` : ''}`, timeText(i.created_at),
          i.expires_at ? timeText(i.expires_at) : 'never',
          i.revoked_at ? badge('revoked', 'muted') : badge('live', 'ok'),
          i.revoked_at ? '' : confirmButton('Revoke', 'Revoke it?', async () => {
            await ctx.api('DELETE', `/api/houses/${houseId}/invites/${encodeURIComponent(i.id)}`);
            refresh();
          }, { danger: true, status })]), { 'aria-label': 'Invites' }) : empty('No invites yet.'),
      status.el);
    });
  const { el } = form({ 'aria-label': 'New invite' }, [h('div', { class: 'm-grid' },
    field('Role', role), field('Expires after', expires), field('Uses', uses))],
  async (formEl, formStatus) => {
    const body = { role: role.value };
    if (expires.value.trim()) body.expires = expires.value.trim();
    if (uses.value) body.max_uses = Number(uses.value);
    const r = await ctx.api('POST', `/api/houses/${houseId}/invites`, body);
    replace(shown, secretOnce(`Invite code (${r.role})`, r.code));
    formStatus.ok('Invite created.');
    formEl.reset();
    refresh();
  }, 'Create invite');
  card.body.append(el, shown, list);
  return { el: card.el, ready: refresh() };
}

function keysSection({ ctx, houseId, isAdmin, isOwner }, id) {
  const card = section(id, 'Model keys', 'Provider keys this house pays with. A house that has '
    + 'its own key for a provider uses only its own keys there. Keys are stored encrypted and '
    + 'never shown again: only their last characters.');
  if (!isAdmin) {
    card.body.append(empty('Only house admins can see the house\'s keys.'));
    return { el: card.el, ready: Promise.resolve() };
  }
  const list = h('div');
  const status = statusLine();
  const refresh = () => load(list, () => ctx.api('GET', `/api/houses/${houseId}/keys`), (rows) => {
    list.append(rows.length ? table(['Provider', 'Label', 'Key', 'Added', ''], rows.map((k) => [
      k.provider, k.label || '—', h('code', { class: 'm-masked' }, k.hint), timeText(k.created_at),
      isOwner ? confirmButton('Remove', 'Remove this key?', async () => {
        await ctx.api('DELETE', `/api/houses/${houseId}/keys/${encodeURIComponent(k.id)}`);
        refresh();
      }, { danger: true, status }) : '']), { 'aria-label': 'Model keys' })
      : empty('No keys of its own: the house uses the server\'s keys.'), status.el);
  });
  card.body.append(list);
  if (isOwner) {
    const provider = h('input', { name: 'key_provider', list: 'm-providers', required: true,
      placeholder: 'openai' });
    const apiKey = h('input', { name: 'key_value', type: 'password', autocomplete: 'off',
      required: true });
    const label = h('input', { name: 'key_label', maxlength: 128, placeholder: 'team' });
    const { el } = form({ 'aria-label': 'Add a key' }, [
      h('datalist', { id: 'm-providers' }, PROVIDERS.map((p) => h('option', { value: p }))),
      h('div', { class: 'm-grid' }, field('Provider', provider), field('API key', apiKey),
        field('Label', label))],
    async (formEl, formStatus) => {
      await ctx.api('POST', `/api/houses/${houseId}/keys`,
        { provider: provider.value.trim(), apiKey: apiKey.value.trim(), label: label.value.trim() });
      formEl.reset();
      formStatus.ok('Key stored.');
      refresh();
    }, 'Add key');
    card.body.append(el);
  }
  return { el: card.el, ready: refresh() };
}
