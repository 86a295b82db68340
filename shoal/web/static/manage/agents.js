// /house/{houseId}/agents: the house's registry of people and bots (role, runtime, presence)
// and a form to create a bot, whose token is shown once.
import { h, replace } from '../dom.js';
import {
  badge, empty, field, form, link, load, loadHouse, pageHeader, rank, secretOnce, section,
  select, table,
} from './common.js';

const RUNTIMES = [
  ['builtin', 'Built-in: Shoal runs its model'],
  ['sdk', 'SDK: its own process connects with its token'],
  ['webhook', 'Webhook: Shoal POSTs each activation to a URL'],
];

/** Render the registry into `root`. */
export async function mount(root, ctx) {
  const page = h('div', { class: 'manage m-agents' });
  replace(root, page);
  const house = await loadHouse(ctx, page);
  if (!house) return;
  const houseId = house.id;
  const base = `/house/${encodeURIComponent(houseId)}`;
  document.title = `Agents · ${house.name} · Shoal`;
  page.append(pageHeader('Agents and people', house.name, [
    link(ctx, `${base}/agents`, 'Agents', { 'aria-current': 'page' }),
    link(ctx, `${base}/settings`, 'Settings'),
  ]));

  const registry = section('registry', 'Registry',
    'Everyone in the house: people and bots are members alike, with a role; bots also run '
    + 'on a runtime.');
  const creator = rank(house.role) >= rank('member') ? createBotCard(ctx, house, () => refresh())
    : null;
  page.append(...[creator, registry.el].filter(Boolean));

  let filter = { text: '', kind: 'all' };
  let entries = [];
  const list = h('div', { class: 'm-registry-list' });
  const search = h('input', {
    type: 'search', placeholder: 'Filter by name or @handle', 'aria-label': 'Filter members',
    oninput: (e) => { filter = { ...filter, text: e.target.value.trim().toLowerCase() }; draw(); },
  });
  const kinds = select([['all', 'Everyone'], ['human', 'People'], ['bot', 'Bots']], 'all', {
    'aria-label': 'Show', onchange: (e) => { filter = { ...filter, kind: e.target.value }; draw(); },
  });

  function draw() {
    const shown = entries.filter((e) => (filter.kind === 'all' || e.kind === filter.kind)
      && (!filter.text || `${e.display_name} ${e.handle} ${e.username}`.toLowerCase()
        .includes(filter.text)));
    if (!shown.length) {
      replace(list, empty(entries.length ? 'Nobody matches this filter.' : 'Nobody here yet.'));
      return;
    }
    replace(list, table(['Member', 'Kind', 'Role', 'Runtime', 'Status', ''],
      shown.map((e) => row(ctx, base, e)), { 'aria-label': 'House registry' }));
  }

  async function refresh() {
    await load(registry.body, () => ctx.api('GET', `/api/houses/${houseId}/registry`), (data) => {
      entries = data;
      const bots = data.filter((e) => e.kind === 'bot').length;
      registry.body.append(
        h('div', { class: 'm-toolbar' }, search, kinds,
          h('span', { class: 'm-muted' }, `${data.length - bots} people, ${bots} bots`)),
        list);
      draw();
    });
  }
  await refresh();
}

function row(ctx, base, e) {
  const who = h('div', { class: 'm-who' },
    h('span', { class: `m-presence ${e.online ? 'm-online' : ''}`,
      title: e.online ? 'online' : 'offline' }),
    h('span', null, h('strong', null, e.display_name || e.username), ' ',
      h('span', { class: 'm-handle' }, `@${e.handle}`)));
  if (e.kind !== 'bot') {
    return [who, 'Person', badge(e.role, e.role), '—', e.online ? 'online' : 'offline', ''];
  }
  const bot = e.bot;
  const status = [badge(bot.status, bot.status === 'active' ? 'ok' : 'warn'), ' ',
    e.online ? 'online' : 'offline'];
  const path = `${base}/agents/${encodeURIComponent(e.id)}`;
  return [who, 'Bot', badge(e.role, e.role),
    h('span', null, badge(bot.runtime, 'runtime'), bot.model ? h('span', { class: 'm-muted' },
      ` ${bot.model}`) : null),
    status,
    link(ctx, path, bot.manageable ? 'Edit' : 'View', {
      class: 'm-button m-small', 'aria-label': `${bot.manageable ? 'Edit' : 'View'} ${e.display_name}`,
    })];
}

function createBotCard(ctx, house, onCreated) {
  const card = section('create-bot', 'Create a bot',
    'A bot is a member of the house. It starts with a token, shown once below.');
  const result = h('div', { class: 'm-result', 'aria-live': 'polite' });
  const name = h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off' });
  const description = h('input', { name: 'description', maxlength: 2000, autocomplete: 'off' });
  const runtime = select(RUNTIMES, 'builtin', { name: 'runtime' });
  const verify = h('input', { type: 'checkbox', name: 'verify', checked: true });
  const { el } = form({ 'aria-label': 'Create a bot' }, [
    h('div', { class: 'm-grid' },
      field('Name', name, 'Its @handle is made from the name.'),
      field('Runtime', runtime),
      field('Description', description, 'Optional: who the bot is, for the people here.')),
    h('label', { class: 'm-check' }, verify,
      ' Verify it now, so its token can log in (SDK and webhook bots need this)'),
  ], async (_, status) => {
    if (!name.value.trim()) {
      status.error('Give the bot a name.');
      return;
    }
    const created = await ctx.api('POST', '/api/agents', { name: name.value.trim(), houseId: house.id });
    const bot = created.agent;
    // The token exists only in this answer: show it before anything else can fail.
    replace(result,
      secretOnce(`Agent token for @${bot.username}`, created.agentToken),
      h('p', null, link(ctx, `/house/${encodeURIComponent(house.id)}/agents/${encodeURIComponent(bot.id)}`,
        `Set up ${bot.display_name} →`, { class: 'm-button m-primary' })));
    name.value = '';
    try {
      const patch = {};
      if (runtime.value !== 'builtin') patch.runtime = runtime.value;
      if (description.value.trim()) patch.description = description.value.trim();
      if (Object.keys(patch).length) await ctx.api('PATCH', `/api/agents/${bot.id}/config`, patch);
      if (verify.checked) await ctx.api('POST', `/api/agents/${bot.id}/verify`);
      status.ok(`Created @${bot.username}.`);
      description.value = '';
    } catch (err) {
      status.error(`Created @${bot.username}, but: ${err.message}. Finish on its page.`);
    } finally {
      onCreated();
    }
  }, 'Create bot');
  card.body.append(el, result);
  return card.el;
}
