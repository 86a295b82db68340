// The bot's configuration form: name, description, system prompt, runtime, model and
// fallbacks, triggers, busy and tool policies, webhook. Saves only what changed.
import { h, replace } from '../dom.js';
import { codeEditor, field, select, splitList, statusLine } from './common.js';

const PROMPT_LIMIT = 20000;
const RUNTIMES = [['builtin', 'Built-in (Shoal runs its model)'], ['sdk', 'SDK (its own process)'],
  ['webhook', 'Webhook (Shoal POSTs each activation)']];
const TRIGGER_MODES = [['mention', 'When mentioned'],
  ['ambient', 'Ambient: also when the conversation seems relevant']];
const TRIGGER_POLICIES = [['open', 'Anyone who may post'], ['closed', 'House admins only'],
  ['whitelist', 'Listed usernames (and admins)']];
const THINKING = [['', 'The house\'s default'], ['off', 'Off'], ['low', 'Low'],
  ['medium', 'Medium'], ['high', 'High']];
const BUSY_POLICIES = [['queue', 'Queue: each runs after the current one'],
  ['collect', 'Collect: they merge into one follow-up'],
  ['interrupt', 'Interrupt: stop the current run and start anew']];

/** The form, filled from `config`; `onSaved(config, agent)` after a successful save. */
export function botForm(ctx, initialBot, initialConfig, models, onSaved) {
  // What the server holds now: a save compares against it and then replaces it.
  let bot = initialBot;
  let config = initialConfig;
  const status = statusLine();
  const name = h('input', { name: 'name', maxlength: 64, value: bot.display_name });
  const description = h('textarea', { name: 'description', rows: 2, maxlength: 2000 },
    config.description);
  const prompt = codeEditor({ name: 'system_prompt', rows: 14, maxlength: PROMPT_LIMIT,
    'aria-describedby': 'prompt-count' });
  prompt.value = config.system_prompt;
  const count = h('span', { id: 'prompt-count', class: 'm-muted' });
  const countPrompt = () => { count.textContent = `${prompt.value.length} / ${PROMPT_LIMIT}`; };
  prompt.addEventListener('input', countPrompt);
  countPrompt();

  const emoji = h('input', { name: 'emoji', maxlength: 16, value: config.identity?.emoji || '',
    placeholder: '🦀' });
  const thinking = select(THINKING, config.thinking || '', { name: 'thinking' });
  const imageModel = modelSelect(models, config.image_model?.primary || null);
  imageModel.name = 'image_model';
  imageModel.options[0].textContent = 'None (images are named in words)';
  const runtime = select(RUNTIMES, config.runtime, { name: 'runtime' });
  const primary = modelSelect(models, config.model.primary);
  const fallbacks = fallbackEditor(models, config.model.fallbacks);
  const triggerMode = select(TRIGGER_MODES, config.trigger_mode, { name: 'trigger_mode' });
  const onAgents = h('input', { type: 'checkbox', name: 'ambient_on_agents',
    checked: config.ambient_on_agents });
  const onAgentsField = h('label', { class: 'm-check' }, onAgents,
    ' Also wake on other agents\' messages (otherwise only on people, hooks and schedules)');
  const triggerPolicy = select(TRIGGER_POLICIES, config.trigger_policy, { name: 'trigger_policy' });
  const whitelist = h('input', { name: 'trigger_whitelist', value: config.trigger_whitelist.join(', '),
    placeholder: 'ada, grace' });
  const busy = select(BUSY_POLICIES, config.busy_policy, { name: 'busy_policy' });
  const allow = h('input', { name: 'tools_allow', value: config.tools.allow.join(', ') });
  const deny = h('input', { name: 'tools_deny', value: config.tools.deny.join(', ') });
  const approval = h('input', { name: 'tools_approval', value: config.tools.approval.join(', ') });
  const maxHops = h('input', { name: 'max_hops', type: 'number', min: 1, max: 1000,
    value: String(config.max_hops) });
  const budget = h('input', { name: 'daily_token_budget', type: 'number', min: 1,
    value: config.daily_token_budget ?? '', placeholder: 'no limit' });
  const webhookUrl = h('input', { name: 'response_webhook_url', type: 'url',
    value: config.response_webhook_url || '', placeholder: 'https://example.com/shoal' });
  const webhookSecret = h('input', { name: 'response_webhook_secret', type: 'password',
    autocomplete: 'new-password',
    placeholder: config.response_webhook_secret ? 'set (type to replace)' : 'not set' });
  const clearSecret = h('input', { type: 'checkbox', name: 'clear_secret' });

  const webhookBox = h('fieldset', { class: 'm-fieldset' }, h('legend', null, 'Webhook'),
    field('Webhook URL', webhookUrl, 'Each activation is POSTed here, signed with the secret.'),
    field('Signing secret', webhookSecret, 'Never shown again once saved.'),
    config.response_webhook_secret ? h('label', { class: 'm-check' }, clearSecret,
      ' Remove the secret') : null);
  const whitelistField = field('Usernames who may wake it', whitelist, 'Comma-separated.');
  const modelBox = h('fieldset', { class: 'm-fieldset' }, h('legend', null, 'Model'),
    field('Primary model', primary, models.allowlist ? 'This house allows only these models.'
      : `The server's default is ${models.default.primary}.`),
    fallbacks.el,
    field('Thinking', thinking, 'How much it reasons before answering.'),
    field('Image model', imageModel, 'For turns with images, when the primary cannot see.'));
  const sync = () => {
    webhookBox.hidden = runtime.value !== 'webhook';
    modelBox.hidden = runtime.value !== 'builtin';
    whitelistField.hidden = triggerPolicy.value !== 'whitelist';
    onAgentsField.hidden = triggerMode.value !== 'ambient';
  };
  runtime.addEventListener('change', sync);
  triggerPolicy.addEventListener('change', sync);
  triggerMode.addEventListener('change', sync);
  sync();

  const save = h('button', { type: 'submit', class: 'm-button m-primary' }, 'Save changes');
  const el = h('form', { class: 'm-form m-bot-form', 'aria-label': 'Bot settings', novalidate: true },
    h('fieldset', { class: 'm-fieldset' }, h('legend', null, 'Profile'),
      field('Name', name, 'Its @handle stays the same, so mentions keep working.'),
      field('Description', description),
      field('Emoji', emoji, 'Shown beside its name: one emoji.')),
    h('fieldset', { class: 'm-fieldset' }, h('legend', null, 'System prompt'),
      h('div', { class: 'm-field' }, h('label', { for: 'bot-prompt' }, 'Prompt (markdown)'),
        Object.assign(prompt, { id: 'bot-prompt' }),
        h('p', { class: 'm-hint' }, 'Tab indents; press Escape then Tab to leave the editor. ',
          count))),
    h('fieldset', { class: 'm-fieldset' }, h('legend', null, 'Runtime'), field('Runtime', runtime)),
    modelBox,
    h('fieldset', { class: 'm-fieldset' }, h('legend', null, 'Triggers'),
      field('Trigger mode', triggerMode), onAgentsField, field('Who may wake it', triggerPolicy), whitelistField,
      field('When busy', busy, 'What happens to triggers that arrive while it runs.'),
      h('div', { class: 'm-grid' },
        field('Max hops', maxHops, 'The loop guard: agents stop answering each other after this.'),
        field('Daily token budget', budget, 'Past it, activations are skipped.'))),
    h('fieldset', { class: 'm-fieldset' }, h('legend', null, 'Tool policy'),
      h('p', { class: 'm-hint' }, 'Slash commands it may call, with * wildcards; deny wins. '
        + 'Tools needing approval wait for a person to approve each call.'),
      h('div', { class: 'm-grid' }, field('Allow', allow), field('Deny', deny),
        field('Need approval', approval))),
    webhookBox,
    h('div', { class: 'm-actions m-sticky' }, save, status.el));

  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    const patch = {};
    const put = (key, value, old) => {
      if (JSON.stringify(value) !== JSON.stringify(old)) patch[key] = value;
    };
    put('description', description.value, config.description);
    put('system_prompt', prompt.value, config.system_prompt);
    put('runtime', runtime.value, config.runtime);
    // Compared as canonical references, so an alias stored earlier is not a change.
    const oldFallbacks = config.model.fallbacks == null ? null
      : config.model.fallbacks.map((ref) => findModel(models, ref));
    const model = { primary: primary.value || null, fallbacks: fallbacks.value() };
    put('model', model, { primary: findModel(models, config.model.primary) || null,
      fallbacks: oldFallbacks });
    put('thinking', thinking.value || null, config.thinking ?? null);
    put('identity', { emoji: emoji.value.trim() || null }, { emoji: config.identity?.emoji ?? null });
    put('image_model', imageModel.value ? { primary: imageModel.value, fallbacks: [] } : null,
      config.image_model ? { primary: findModel(models, config.image_model.primary) || null,
        fallbacks: config.image_model.fallbacks ?? [] } : null);
    put('trigger_mode', triggerMode.value, config.trigger_mode);
    put('ambient_on_agents', onAgents.checked, config.ambient_on_agents);
    put('trigger_policy', triggerPolicy.value, config.trigger_policy);
    put('trigger_whitelist', splitList(whitelist.value).map((u) => u.replace(/^@/, '').toLowerCase()),
      config.trigger_whitelist);
    put('busy_policy', busy.value, config.busy_policy);
    put('tools', { allow: splitList(allow.value), deny: splitList(deny.value),
      approval: splitList(approval.value) }, config.tools);
    put('max_hops', Number(maxHops.value), config.max_hops);
    put('daily_token_budget', budget.value === '' ? null : Number(budget.value),
      config.daily_token_budget);
    put('response_webhook_url', webhookUrl.value.trim() || null, config.response_webhook_url);
    if (webhookSecret.value) patch.response_webhook_secret = webhookSecret.value;
    else if (clearSecret.checked) patch.response_webhook_secret = null;
    const newName = name.value.trim();
    if (!newName) {
      status.error('The name cannot be empty.');
      return;
    }
    if (!Object.keys(patch).length && newName === bot.display_name) {
      status.ok('Nothing changed.');
      return;
    }
    save.disabled = true;
    status.busy();
    try {
      if (newName !== bot.display_name) {
        const { agent } = await ctx.api('PATCH', `/api/agents/${bot.id}`, { name: newName });
        bot = { ...bot, display_name: agent.display_name };
      }
      if (Object.keys(patch).length) {
        config = (await ctx.api('PATCH', `/api/agents/${bot.id}/config`, patch)).config;
      }
      webhookSecret.value = '';
      clearSecret.checked = false;
      webhookSecret.placeholder = config.response_webhook_secret ? 'set (type to replace)' : 'not set';
      status.ok('Saved. The next activation uses these settings.');
      onSaved(config, bot);
    } catch (err) {
      status.error(err);
    } finally {
      save.disabled = false;
    }
  });
  return el;
}

function modelLabel(m) {
  return m.aliases.length ? `${m.ref} (${m.aliases.join(', ')})` : m.ref;
}

function findModel(models, ref) {
  if (!ref) return '';
  const wanted = ref.toLowerCase();
  const found = models.models.find((m) => m.ref.toLowerCase() === wanted
    || m.aliases.some((a) => a.toLowerCase() === wanted));
  return found ? found.ref : ref;
}

function modelOptions(models, current) {
  const options = models.models.map((m) => [m.ref, modelLabel(m)]);
  if (current && !options.some(([ref]) => ref === current)) {
    options.unshift([current, `${current} (current, not in the list)`]);
  }
  return options;
}

function modelSelect(models, primary) {
  const current = findModel(models, primary);
  return select([['', `Server default (${models.default.primary})`], ...modelOptions(models, current)],
    current, { name: 'model_primary' });
}

/** An ordered list of fallback models; `value()` is null for the server's default list. */
function fallbackEditor(models, fallbacks) {
  let chosen = (fallbacks || []).map((ref) => findModel(models, ref));
  const useDefault = h('input', { type: 'checkbox', name: 'fallbacks_default',
    checked: fallbacks === null || fallbacks === undefined });
  const list = h('ol', { class: 'm-fallbacks', 'aria-label': 'Fallback models' });
  const adder = h('select', { 'aria-label': 'Add a fallback model' });
  const add = h('button', { type: 'button', class: 'm-button m-small' }, 'Add fallback');
  const editor = h('div', { class: 'm-fallback-editor' }, list, h('div', { class: 'm-row' }, adder, add));
  const draw = () => {
    replace(list, chosen.length ? chosen.map((ref, i) => h('li', null, h('code', null, ref),
      h('span', { class: 'm-row-actions' },
        h('button', { type: 'button', class: 'm-icon', 'aria-label': `Move ${ref} up`,
          disabled: i === 0, onclick: () => { move(i, -1); } }, '↑'),
        h('button', { type: 'button', class: 'm-icon', 'aria-label': `Move ${ref} down`,
          disabled: i === chosen.length - 1, onclick: () => { move(i, 1); } }, '↓'),
        h('button', { type: 'button', class: 'm-icon', 'aria-label': `Remove ${ref}`,
          onclick: () => { chosen = chosen.filter((_, j) => j !== i); draw(); } }, '✕'))))
      : h('li', { class: 'm-muted' }, 'No fallbacks: only the primary model is tried.'));
    replace(adder, modelOptions(models, '').filter(([ref]) => !chosen.includes(ref))
      .map(([ref, label]) => h('option', { value: ref }, label)));
    add.disabled = !adder.options.length;
    editor.hidden = useDefault.checked;
  };
  const move = (i, by) => {
    const next = [...chosen];
    [next[i], next[i + by]] = [next[i + by], next[i]];
    chosen = next;
    draw();
  };
  add.addEventListener('click', () => {
    if (adder.value) chosen = [...chosen, adder.value];
    draw();
  });
  useDefault.addEventListener('change', draw);
  draw();
  const defaults = models.default.fallbacks.length ? models.default.fallbacks.join(', ') : 'none';
  return {
    el: h('div', { class: 'm-field' }, h('span', { class: 'm-label' }, 'Fallbacks'),
      h('label', { class: 'm-check' }, useDefault, ` Use the server's default fallbacks (${defaults})`),
      editor),
    value: () => (useDefault.checked ? null : [...chosen]),
  };
}
