// The "Models and agents" section of the settings page: the house's settings document
// (GET/PATCH /api/houses/{id}/settings). Owners edit it; everyone else reads it.
import { h, replace } from '../dom.js';
import { actionButton, empty, field, form, load, section, select, table } from './common.js';

const DECIDERS = [['initiator', 'Only the person who started the run'],
  ['initiator_or_admins', 'That person or a house admin']];

/** The section card; `ready` settles once it has loaded. */
export function modelsSection({ ctx, houseId, isOwner }, id) {
  const card = section(id, 'Models and agents', isOwner
    ? 'The models this house\'s bots may use (an empty list allows every model), the model '
      + 'ambient bots ask whether a message concerns them, who answers a run\'s permission '
      + 'requests, the time zone in the bots\' prompt, and how many agent replies one message '
      + 'may set off.'
    : 'Only the house\'s owners can change these.');
  const route = `/api/houses/${houseId}/settings`;
  const ready = load(card.body,
    () => Promise.all([ctx.api('GET', route), ctx.api('GET', `/api/houses/${houseId}/agencies`)]),
    ([doc, rooms]) => card.body.append(isOwner ? settingsForm(ctx, route, doc) : settingsView(doc),
      boundRooms(doc.bindings, rooms)));
  return { el: card.el, ready };
}

const THINKING = [['', 'The server\'s default'], ['off', 'Off'], ['low', 'Low'],
  ['medium', 'Medium'], ['high', 'High']];

function settingsView(doc) {
  const models = Object.entries(doc.models);
  return h('div', null,
    models.length ? table(['Model', 'Alias', 'Params'], models.map(([ref, e]) => [
      h('code', null, ref), e.alias || '—', e.params ? h('code', null, JSON.stringify(e.params)) : '—',
    ]), { 'aria-label': 'House models' }) : empty('No model list: bots may use every model.'),
    h('dl', { class: 'm-facts', 'aria-label': 'Agent settings' },
      fact('Relevance model', doc.relevance_model || 'the server\'s choice'),
      fact('Run permissions', DECIDERS.find(([v]) => v === doc.run_permission_deciders)?.[1]
        || doc.run_permission_deciders),
      fact('Time zone', doc.timezone),
      fact('Interaction budget', String(doc.interaction_budget)),
      fact('Thinking', doc.thinking_default || 'the server\'s default')));
}

/** The rooms bound to an agent (each is set in its room's header, or with /bind). */
function boundRooms(bindings, rooms) {
  const names = new Map(rooms.map((r) => [r.id, r.name]));
  const bound = Object.entries(bindings || {});
  return h('div', { class: 'm-bound-rooms' }, h('h3', null, 'Rooms bound to an agent'),
    bound.length ? table(['Room', 'Agent'], bound.map(([id, agent]) => [
      h('a', { href: `/rooms/${id}` }, `#${names.get(id) || id}`), `@${agent}`,
    ]), { 'aria-label': 'Bound rooms' })
      : empty('No room is bound: agents answer where they are mentioned. Bind one from its header.'));
}

function fact(term, value) {
  return [h('dt', null, term), h('dd', { 'data-term': term }, value)];
}

function settingsForm(ctx, route, initial) {
  let saved = initial;
  const rows = h('div', { class: 'm-model-rows' });
  const addRow = (ref = '', entry = {}) => {
    const row = h('div', { class: 'm-model-row m-grid' },
      field('Model', h('input', { name: 'model_ref', value: ref, placeholder: 'anthropic/claude-haiku-4-5' })),
      field('Alias', h('input', { name: 'model_alias', value: entry.alias || '', placeholder: 'none' })),
      field('Params (JSON)', h('input', { name: 'model_params', placeholder: '{"temperature": 0.2}',
        value: entry.params ? JSON.stringify(entry.params) : '' })));
    row.append(h('div', { class: 'm-actions' }, actionButton('Remove', async () => row.remove())));
    rows.append(row);
  };
  const relevance = h('input', { name: 'relevance_model', placeholder: 'the server\'s choice' });
  const deciders = select(DECIDERS, initial.run_permission_deciders, { name: 'run_permission_deciders' });
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const timezone = h('input', { name: 'timezone', list: 'm-timezones', placeholder: 'UTC' });
  const budget = h('input', { name: 'interaction_budget', type: 'number', min: 1, max: 1000 });
  const thinking = select(THINKING, initial.thinking_default || '', { name: 'thinking_default' });
  const fill = (doc) => {
    replace(rows);
    Object.entries(doc.models).forEach(([ref, entry]) => addRow(ref, entry));
    relevance.value = doc.relevance_model || '';
    deciders.value = doc.run_permission_deciders;
    timezone.value = doc.timezone;
    budget.value = String(doc.interaction_budget);
    thinking.value = doc.thinking_default || '';
  };
  fill(initial);
  const { el } = form({ 'aria-label': 'Models and agents' }, [
    h('fieldset', { class: 'm-fieldset' }, h('legend', null, 'Models'),
      h('p', { class: 'm-hint' }, 'When the list is not empty it is the house\'s allowlist. '
        + 'Params go to the provider with every call (e.g. temperature).'),
      rows, h('div', null, actionButton('Add a model', async () => addRow()))),
    h('div', { class: 'm-grid' },
      field('Relevance model', relevance, 'A cheap model for ambient bots\' YES/NO question; '
        + 'empty: the server chooses.'),
      field('Run permission requests', deciders),
      field('Time zone', timezone, 'IANA name; bots see the current time here.'),
      field('Interaction budget', budget, 'Agent replies one message may wake in all.'),
      field('Thinking', thinking, 'How much agents reason first, unless an agent says.')),
    h('datalist', { id: 'm-timezones' }, zones.map((z) => h('option', { value: z })))],
  async (_, status) => {
    const wanted = {
      models: Object.fromEntries([...rows.querySelectorAll('.m-model-row')].map((row) => {
        const value = (name) => row.querySelector(`[name=${name}]`).value.trim();
        const entry = {};
        if (value('model_alias')) entry.alias = value('model_alias');
        if (value('model_params')) entry.params = parseJson(value('model_params'));
        return [value('model_ref'), entry];
      }).filter(([ref]) => ref)),
      relevance_model: relevance.value.trim() || null,
      run_permission_deciders: deciders.value,
      timezone: timezone.value.trim() || null,
      interaction_budget: budget.value === '' ? null : Number(budget.value),
      thinking_default: thinking.value || null,
    };
    // Only what changed is sent, so a default stays a default.
    const change = Object.fromEntries(Object.entries(wanted)
      .filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(saved[key])));
    if (!Object.keys(change).length) {
      status.ok('Nothing to save.');
      return;
    }
    saved = await ctx.api('PATCH', route, change);
    fill(saved);
    status.ok('Saved.');
  }, 'Save');
  return el;
}

/** Text as JSON, or the text itself, so the server's sentence says what is wrong with it. */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
