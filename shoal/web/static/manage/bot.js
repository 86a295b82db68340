// /house/{houseId}/agents/{botId}: one bot's settings, verification, tokens and activation log.
import { ApiError } from '../api.js';
import { append, h, replace } from '../dom.js';
import { activationLog } from './activations.js';
import { botForm } from './botform.js';
import {
  actionButton, badge, confirmButton, empty, link, load, loadHouse, pageHeader, secretOnce,
  section, statusLine, table, timeText,
} from './common.js';

/** Render the bot page into `root`. */
export async function mount(root, ctx) {
  const page = h('div', { class: 'manage m-bot' });
  replace(root, page);
  const house = await loadHouse(ctx, page);
  if (!house) return;
  const houseId = encodeURIComponent(house.id);
  const botId = ctx.params.botId;
  const base = `/house/${houseId}`;
  let registry;
  let rooms;
  try {
    [registry, rooms] = await Promise.all([
      ctx.api('GET', `/api/houses/${houseId}/registry`),
      ctx.api('GET', `/api/houses/${houseId}/agencies`),
    ]);
  } catch (err) {
    page.append(h('p', { class: 'm-error', role: 'alert' }, err.message));
    return;
  }
  const entry = registry.find((e) => e.id === botId && e.kind === 'bot');
  if (!entry) {
    page.append(pageHeader('Bot not found', house.name, [link(ctx, `${base}/agents`, '← Agents')]),
      empty('This house has no such bot. It may have been deleted.'));
    return;
  }
  const header = h('div');
  const drawHeader = (agent) => {
    document.title = `${agent.display_name} · Agents · Shoal`;
    replace(header, pageHeader(agent.display_name, `@${entry.handle} · ${entry.role} of ${house.name}`,
      [link(ctx, `${base}/agents`, '← Agents'), link(ctx, `${base}/settings`, 'Settings')]));
  };
  drawHeader(entry);
  page.append(header);

  const manageable = entry.bot.manageable;
  // The delete button names the bot, so a rename draws it again.
  let danger = manageable ? dangerCard(ctx, entry, botId, `${base}/agents`) : null;
  if (manageable) {
    const settings = section('bot-settings', 'Settings',
      'Changes take effect on the bot\'s next activation.');
    page.append(settings.el);
    load(settings.body, () => Promise.all([
      ctx.api('GET', `/api/agents/${encodeURIComponent(botId)}/config`),
      ctx.api('GET', `/api/houses/${houseId}/models`),
    ]), ([config, models]) => {
      settings.body.append(botForm(ctx, { ...entry, id: botId }, config.config, models,
        (_, agent) => {
          if (agent.display_name === entry.display_name) return;
          entry.display_name = agent.display_name;
          drawHeader(agent);
          const renamed = dangerCard(ctx, entry, botId, `${base}/agents`);
          danger.replaceWith(renamed);
          danger = renamed;
        }));
    });
    page.append(accessCard(ctx, entry, botId));
    page.append(toolsCard(ctx, botId, houseId));
    page.append(memoryCard(ctx, botId));
  } else {
    page.append(h('section', { class: 'm-card' }, h('h2', null, 'Settings'),
      h('p', { class: 'm-muted' }, 'Only the bot\'s owner and house admins can change it. '
        + `It runs on the ${entry.bot.runtime} runtime.`),
      entry.bot.description ? h('p', null, entry.bot.description) : null));
  }

  const log = section('activations', 'Activation log',
    'Every time something woke the bot: what triggered it, what it did, and what it cost.');
  log.body.append(activationLog(ctx, botId, rooms.filter((r) => !r.dm)));
  page.append(log.el);
  if (manageable) page.append(danger);
}

/** The bot's memory notes you can read (those saved in rooms you can read, and house-wide
 * ones), a search over them, and a Forget button for each (GET/DELETE /api/agents/{id}/memory). */
function memoryCard(ctx, botId) {
  const card = section('bot-memory', 'Memory',
    'Notes the bot saved with memory_save (and house-wide notes), newest first. Notes from '
    + 'rooms you cannot read are not shown.');
  const base = `/api/agents/${encodeURIComponent(botId)}/memory`;
  const input = h('input', { type: 'search', name: 'memory-q', placeholder: 'Search its memory',
    'aria-label': 'Search the bot\'s memory', maxlength: 400 });
  const list = h('div');
  const status = statusLine();
  const show = () => {
    const q = input.value.trim();
    load(list, () => ctx.api('GET', q ? `${base}?q=${encodeURIComponent(q)}` : base),
      ({ notes }) => {
        replace(list, notes.length ? table(['Note', 'Scope', 'Saved', ''], notes.map((n) => [
          h('span', { class: 'm-note-text' }, n.text), n.scope, timeText(n.createdAt),
          confirmButton('Forget', 'Forget it?', async () => {
            await ctx.api('DELETE', `${base}/${encodeURIComponent(n.id)}`);
            show();
          }, { danger: true, status })]), { 'aria-label': 'Memory notes' })
          : empty(q ? 'No note matches.' : 'No notes yet.'));
      });
  };
  card.body.append(h('form', { class: 'm-row', role: 'search', onsubmit: (event) => {
    event.preventDefault();
    show();
  } }, input, h('button', { type: 'submit', class: 'm-button' }, 'Search')), status.el, list);
  show();
  return card.el;
}

/** What the bot may call in this house, and for each tool left out, the layer and rule that
 * removed it (GET /api/agents/{id}/tools). */
function toolsCard(ctx, botId, houseId) {
  const card = section('bot-tools', 'Tools',
    'The tools the bot is offered in this house, and why others are left out. A tool is offered '
    + 'only if every layer allows it: the server, its model\'s provider, the house, the bot.');
  load(card.body, () => ctx.api('GET',
    `/api/agents/${encodeURIComponent(botId)}/tools?house=${houseId}`), (found) => {
    const rule = (r) => `${r.layer}: ${r.rule}`;
    append(card.body, [
      h('p', { class: 'm-muted' }, `Model ${found.model}; layers ${found.layers.join(', ')}.`),
      h('h3', null, `Offered (${found.tools.length})`),
      found.tools.length ? table(['Tool', 'Groups', 'Approval'], found.tools.map((t) => [
        h('code', null, t.name), t.groups.join(', '),
        t.needs_approval ? badge(`asks first (${t.approval_by.map(rule).join('; ')})`, 'warn')
          : 'no']), { 'aria-label': 'Offered tools' })
        : empty('No tool is offered.'),
      h('h3', null, `Left out (${found.removed.length})`),
      found.removed.length ? table(['Tool', 'Layer', 'Rule'], found.removed.map((t) => [
        h('code', null, t.name), t.removed_by.layer, t.removed_by.rule]),
      { 'aria-label': 'Tools left out' }) : empty('Every tool is offered.'),
      Object.keys(found.unavailable).length ? [h('h3', null, 'Unavailable'),
        table(['What', 'Why'], Object.entries(found.unavailable).map(([what, why]) => [
          h('code', null, what), why]), { 'aria-label': 'Unavailable tools' })] : null]);
  });
  return card.el;
}

function accessCard(ctx, entry, botId) {
  const card = section('bot-access', 'Access',
    'An SDK or webhook bot logs in with its token at POST /api/auth/agent once its owner or a '
    + 'house admin has verified it.');
  const id = encodeURIComponent(botId);
  const status = statusLine();
  const verifyBox = h('div', { class: 'm-verify' });
  const tokens = h('div', { class: 'm-tokens' });
  const shown = h('div', { class: 'm-result', 'aria-live': 'polite' });

  const drawVerify = (state) => {
    entry.bot.status = state;
    // The card is drawn only for those who may manage the bot: its owner and house admins.
    replace(verifyBox, h('p', null, 'Status: ', badge(state, state === 'active' ? 'ok' : 'warn'), ' ',
      state === 'active' ? 'verified: its token can log in.'
        : 'not verified yet: its token cannot log in.'),
    state !== 'active' ? actionButton('Verify bot', async () => {
      const r = await ctx.api('POST', `/api/agents/${id}/verify`);
      drawVerify(r.agent.status);
      status.ok('Verified.');
    }, { primary: true, status }) : null);
  };
  drawVerify(entry.bot.status);

  const refreshTokens = () => load(tokens, () => ctx.api('GET', `/api/agents/${id}/tokens`),
    (rows) => {
      const live = rows.filter((t) => !t.revoked_at);
      tokens.append(rows.length ? table(['Token', 'Created', 'Last used', 'State'],
        rows.slice(0, 10).map((t) => [t.kind === 'bot' ? 'Agent token' : 'Agent session',
          timeText(t.created_at), t.last_used_at ? timeText(t.last_used_at, { relative: true }) : 'never',
          t.revoked_at ? badge('revoked', 'muted') : badge('live', 'ok')]),
        { 'aria-label': 'Tokens' }) : empty('No tokens.'),
      h('div', { class: 'm-actions' },
        confirmButton(live.length ? 'New token' : 'Create token',
          live.length ? 'Replace the current token?' : 'Create a token?', async () => {
            const r = await ctx.api('POST', `/api/agents/${id}/tokens`);
            replace(shown, secretOnce(`New agent token for @${entry.handle}`, r.agentToken,
              'Copy it now: it is shown only once. The previous token no longer works.'));
            status.ok('A new token was made; older ones stopped working.');
            refreshTokens();
          }, { status }),
        live.length ? confirmButton('Revoke tokens', 'Revoke every token now?', async () => {
          const r = await ctx.api('DELETE', `/api/agents/${id}/tokens`);
          replace(shown);
          status.ok(`Revoked ${r.revoked} token${r.revoked === 1 ? '' : 's'}; the bot is `
            + 'logged out until it gets a new one.');
          refreshTokens();
        }, { danger: true, status }) : null));
    });
  refreshTokens();
  card.body.append(verifyBox, h('h3', null, 'Tokens'), tokens, shown, status.el);
  return card.el;
}

function dangerCard(ctx, entry, botId, back) {
  const card = section('bot-danger', 'Delete this bot',
    'Its tokens stop working and its sockets close; its messages stay in the rooms.');
  const status = statusLine();
  card.body.append(h('div', { class: 'm-actions' },
    confirmButton(`Delete ${entry.display_name}`, 'Really delete it?', async () => {
      try {
        await ctx.api('DELETE', `/api/agents/${encodeURIComponent(botId)}`);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      ctx.navigate(back);
    }, { danger: true, status }), status.el));
  card.el.classList.add('m-danger-zone');
  return card.el;
}
