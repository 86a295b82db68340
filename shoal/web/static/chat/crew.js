// A room's crew: its goal, members (status, current task, locks), the task board, the locks,
// the activity feed and the models each role may use, updated live from the crew's socket
// events. With no crew running, members of the room may start one here.

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { fullTime, shortTime } from '../format.js';

const COLUMNS = [['todo', 'To do'], ['in_progress', 'In progress'], ['blocked', 'Blocked'],
  ['done', 'Done']];
const ROLES = ['developer', 'architect', 'code-reviewer', 'secretary'];
const TABS = [['board', 'Board'], ['members', 'Members'], ['locks', 'Locks'],
  ['activity', 'Activity'], ['models', 'Models']];
const FEED = 100; // events the panel keeps

export class CrewPanel {
  /** `agents()`: the room's agent members, for choosing a lead or a member; `canStart`: may
   * start a crew; `canManage`: may change the models (house admins; the server decides). */
  constructor({ roomId, socket, agents, canStart, canManage }) {
    this.roomId = roomId;
    this.socket = socket;
    this.agents = agents;
    this.canStart = canStart;
    this.canManage = canManage;
    this.crew = null;
    this.tasks = [];
    this.feed = [];
    this.models = null;
    this.tab = 'board';
    this.starting = false;
    this.error = '';
    this.el = h('section', { class: 'crew-panel', 'aria-label': 'Crew', hidden: true });
    this.offs = [];
  }

  async load() {
    try {
      const crews = await api('GET',
        `/api/agencies/${encodeURIComponent(this.roomId)}/crews?state=active`);
      await this.show(crews[0] || null);
    } catch {
      this.render(); // the room works without its crew panel
    }
  }

  async show(crew) {
    this.crew = crew;
    this.tasks = [];
    this.feed = [];
    this.models = null;
    if (crew) {
      const base = `/api/crews/${encodeURIComponent(crew.id)}`;
      const [tasks, feed] = await Promise.all([
        api('GET', `${base}/tasks`), api('GET', `${base}/activity?limit=${FEED}`)]);
      if (!this.crew || this.crew.id !== crew.id) return; // another crew took its place
      // Events that arrived while these loaded may be newer than what was read: merge them.
      const live = new Map(this.tasks.map((t) => [t.id, t]));
      this.tasks = tasks.map((t) => {
        const seen = live.get(t.id);
        live.delete(t.id);
        return seen && (seen.updated_at || '') >= (t.updated_at || '') ? seen : t;
      }).concat([...live.values()]);
      const read = new Set(feed.map((a) => a.id));
      this.feed = [...this.feed.filter((a) => !read.has(a.id)), ...feed].slice(0, FEED);
      if (this.tab === 'models') await this.loadModels();
    }
    this.render();
  }

  listen() {
    const mine = (crewId) => this.crew && crewId === this.crew.id;
    this.offs.push(this.socket.on('crew-updated', ({ crew } = {}) => {
      if (!crew || crew.room_id !== this.roomId) return;
      if (mine(crew.id)) {
        this.crew = crew.state === 'ended' ? null : { ...this.crew, ...crew };
        this.render();
      } else if (!this.crew && crew.state === 'active') {
        this.show(crew);
      }
    }));
    this.offs.push(this.socket.on('crew-task', ({ crewId, task } = {}) => {
      if (!mine(crewId) || !task) return;
      const at = this.tasks.findIndex((t) => t.id === task.id);
      if (at >= 0) this.tasks[at] = task;
      else this.tasks.push(task);
      this.render();
    }));
    this.offs.push(this.socket.on('crew-activity', ({ crewId, activity } = {}) => {
      if (!mine(crewId) || !activity || this.feed.some((a) => a.id === activity.id)) return;
      this.feed = [activity, ...this.feed].slice(0, FEED);
      this.render();
    }));
  }

  destroy() {
    this.offs.forEach((off) => off());
  }

  /** Redraw the panel, keeping what the person was typing in its forms: the crew's events
   * redraw it at any moment, and a half-filled form must survive them. */
  render() {
    const restore = this.typed();
    this.draw();
    restore();
  }

  draw() {
    const crew = this.crew;
    this.el.hidden = !crew && !this.canStart;
    if (!crew) {
      replace(this.el, this.starting ? this.startForm()
        : h('button', { type: 'button', class: 'ghost small crew-start',
          onclick: () => { this.starting = true; this.render(); } }, 'Start a crew'));
      return;
    }
    const budget = crew.budget || {};
    replace(this.el,
      h('header', { class: 'crew-head' },
        h('div', null,
          h('strong', null, crew.name || 'Crew'), ' · ',
          h('span', { class: 'crew-goal' }, crew.goal)),
        h('div', { class: 'muted small' },
          `lead ${crew.lead?.handle || '?'} · running ${budget.running ?? 0} / `
          + `${budget.agents ?? '?'} · ${this.heartbeat(crew)}`),
        h('nav', { class: 'crew-tabs', role: 'tablist' }, TABS.map(([key, label]) => h('button', {
          type: 'button', role: 'tab', class: `link${this.tab === key ? ' active' : ''}`,
          'aria-selected': String(this.tab === key), dataset: { tab: key },
          onclick: () => this.switchTab(key) }, label))),
        h('button', { type: 'button', class: 'ghost small crew-end',
          onclick: () => this.end() }, 'End crew')),
      this.error ? h('p', { class: 'form-error small' }, this.error) : null,
      h('div', { class: `crew-body crew-tab-${this.tab}` }, this.body()));
  }

  /** The values of the panel's form fields and which one has focus; the returned function
   * puts them back into the fields of the same name after a redraw. */
  typed() {
    const key = (field) => `${field.form.className} ${field.name}`;
    const fields = () => [...this.el.querySelectorAll('form [name]')];
    const values = new Map(fields().map((field) => [key(field), field.value]));
    const active = document.activeElement;
    const focused = active?.form && this.el.contains(active) ? key(active) : null;
    return () => {
      for (const field of fields()) {
        const value = values.get(key(field));
        if (value === undefined) continue;
        if (field.tagName === 'SELECT' && ![...field.options].some((o) => o.value === value)) {
          continue; // the choice is gone (a member left): keep the new default
        }
        field.value = value;
        if (key(field) === focused) field.focus();
      }
    };
  }

  heartbeat(crew) {
    if (crew.heartbeat_halted) return 'heartbeat halted';
    if (crew.unanswered_nudges) return `${crew.unanswered_nudges} unanswered nudge(s)`;
    return 'heartbeat on';
  }

  body() {
    switch (this.tab) {
      case 'members': return this.membersTab();
      case 'locks': return this.locksTab();
      case 'activity': return this.activityTab();
      case 'models': return this.modelsTab();
      default: return this.boardTab();
    }
  }

  async switchTab(key) {
    this.tab = key;
    if (key === 'models' && !this.models) await this.loadModels();
    this.render();
  }

  startForm() {
    const goal = h('textarea', { name: 'goal', rows: 2, required: true,
      placeholder: 'What should the crew achieve?' });
    const lead = h('select', { name: 'lead', required: true },
      this.agents().map((a) => h('option', { value: a.id }, `@${a.handle || a.username}`)));
    const error = h('p', { class: 'form-error small' });
    return h('form', { class: 'crew-start-form', onsubmit: async (event) => {
      event.preventDefault();
      try {
        const crew = await api('POST', `/api/agencies/${encodeURIComponent(this.roomId)}/crews`,
          { goal: goal.value, lead: lead.value });
        this.starting = false;
        await this.show(crew);
      } catch (err) {
        error.textContent = err.message;
      }
    } },
    h('label', null, 'Goal', goal), h('label', null, 'Lead', lead), error,
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary small' }, 'Start crew'),
      h('button', { type: 'button', class: 'ghost small',
        onclick: () => { this.starting = false; this.render(); } }, 'Cancel')));
  }

  boardTab() {
    const handles = this.memberOptions();
    return [
      h('div', { class: 'crew-board' }, COLUMNS.map(([state, label]) => {
        const cards = this.tasks.filter((t) => t.status === state);
        return h('section', { class: 'crew-column', dataset: { status: state } },
          h('h4', null, `${label} · ${cards.length}`),
          cards.map((task) => this.card(task)));
      })),
      this.form('crew-task-form', [
        h('input', { name: 'title', required: true, maxlength: 200, placeholder: 'New task' }),
        h('select', { name: 'assignee' }, h('option', { value: '' }, 'unassigned'), handles),
      ], 'Add task', (data) => api('POST', `${this.base()}/tasks`,
        { title: data.title, ...(data.assignee ? { assignee: data.assignee } : {}) })),
    ];
  }

  card(task) {
    const status = h('select', { class: 'small', 'aria-label': 'Status', onchange: () =>
      this.act(() => api('PATCH', `${this.base()}/tasks/${encodeURIComponent(task.id)}`,
        { status: status.value })) },
    COLUMNS.map(([value, label]) => h('option', { value, selected: value === task.status },
      label)));
    return h('article', { class: 'crew-card', dataset: { taskId: task.id } },
      h('div', { class: 'crew-card-title', title: task.description || task.title }, task.title),
      h('div', { class: 'muted small' }, task.assignee || 'unassigned',
        task.updated_by_handle ? ` · by ${task.updated_by_handle}` : '',
        ' · ', h('time', { datetime: task.updated_at, title: fullTime(task.updated_at) },
          shortTime(task.updated_at))),
      status);
  }

  membersTab() {
    const agents = this.agents().filter((a) => !this.crew.members.some(
      (m) => m.agent_id === a.id && m.status !== 'left'));
    return [
      h('ul', { class: 'crew-members' }, this.crew.members.map((m) => h('li', {
        class: `crew-member status-${m.status}`, dataset: { agentId: m.agent_id } },
      h('strong', null, m.handle), ' ', h('span', { class: 'badge' }, m.role), ' ',
      h('span', { class: 'crew-status' }, m.status),
      m.working_on ? h('span', { class: 'muted small' }, ` · working on ${m.working_on}`) : null,
      m.locks.length ? h('span', { class: 'muted small' }, ` · locks ${m.locks.join(', ')}`)
        : null,
      m.role !== 'lead' && m.status !== 'left' ? h('button', { type: 'button',
        class: 'link small', onclick: () => this.act(() => api('DELETE',
          `${this.base()}/members/${encodeURIComponent(m.agent_id)}`)) }, 'remove') : null))),
      this.form('crew-member-form', [
        h('select', { name: 'agent', required: true },
          agents.map((a) => h('option', { value: a.id }, `@${a.handle || a.username}`))),
        h('input', { name: 'role', required: true, list: 'crew-roles', value: 'developer',
          maxlength: 40 }),
        h('datalist', { id: 'crew-roles' }, ROLES.map((r) => h('option', { value: r }))),
      ], 'Add member', (data) => api('POST', `${this.base()}/members`, data)),
    ];
  }

  locksTab() {
    const locks = this.crew.locks || [];
    if (!locks.length) return h('p', { class: 'muted small' }, 'No resource is locked.');
    return h('ul', { class: 'crew-locks' }, locks.map((l) => h('li', null,
      h('code', null, l.resource), ` held by ${l.holder}`)));
  }

  activityTab() {
    if (!this.feed.length) return h('p', { class: 'muted small' }, 'Nothing happened yet.');
    return h('ol', { class: 'crew-feed' }, this.feed.map((a) => h('li', {
      class: `crew-event kind-${a.kind}`, dataset: { kind: a.kind } },
    h('time', { datetime: a.at, title: fullTime(a.at) }, shortTime(a.at)), ' ',
    h('strong', null, a.actor || 'Shoal'), ' ', h('span', { class: 'badge' }, a.kind), ' ',
    a.summary)));
  }

  async loadModels() {
    try {
      this.models = await api('GET', `${this.base()}/model-config`);
    } catch (err) {
      this.error = err.message;
    }
  }

  modelsTab() {
    if (!this.models) return h('p', { class: 'muted small' }, 'Loading…');
    const effective = this.models.effective || {};
    const roles = [...new Set([...Object.keys(effective), ...ROLES])];
    const inputs = new Map(roles.map((role) => [role, h('input', {
      name: role, value: (this.models.models[role] || []).join(', '),
      placeholder: effective[role] ? effective[role].join(', ') : 'any model' })]));
    return h('form', { class: 'crew-models', onsubmit: (event) => {
      event.preventDefault();
      const models = {};
      for (const [role, input] of inputs) {
        const refs = input.value.split(',').map((s) => s.trim()).filter(Boolean);
        if (refs.length) models[role] = refs;
      }
      this.act(async () => {
        this.models = await api('PUT', `${this.base()}/model-config`, { models });
      });
    } },
    h('p', { class: 'muted small' }, 'Models each role may use (comma-separated; empty takes '
      + "the house's default)."),
    h('table', null, roles.map((role) => h('tr', null,
      h('th', null, role), h('td', null, inputs.get(role)),
      h('td', { class: 'muted small' }, effective[role] ? effective[role].join(', ')
        : 'any model')))),
    this.canManage ? h('button', { type: 'submit', class: 'primary small' }, 'Save models')
      : null);
  }

  memberOptions() {
    return this.crew.members.filter((m) => m.status !== 'left')
      .map((m) => h('option', { value: m.handle }, m.handle));
  }

  form(className, fields, label, submit) {
    return h('form', { class: `crew-form ${className}`, onsubmit: (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(event.target));
      // A redraw may have replaced the form while the change was on its way: clear the one shown.
      this.act(() => submit(data)
        .then(() => this.el.querySelector(`form.${className}`)?.reset()));
    } }, fields, h('button', { type: 'submit', class: 'small' }, label));
  }

  /** Run a change; its outcome arrives through the crew's socket events. */
  async act(change) {
    this.error = '';
    try {
      await change();
    } catch (err) {
      this.error = err.message;
    }
    this.render();
  }

  async end() {
    if (!confirm('End this crew? Its record is kept.')) return;
    await this.act(() => api('POST', `${this.base()}/end`));
  }

  base() {
    return `/api/crews/${encodeURIComponent(this.crew.id)}`;
  }
}
