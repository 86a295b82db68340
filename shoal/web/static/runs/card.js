// A run as people watch it: a status banner with live text and elapsed time, tool cards,
// permission requests, interrupts, the streamed answer with a cursor, Stop and Redirect,
// and the outcome. The card is built from transcript events, live or replayed.

import { h, replace } from '../dom.js';
import { avatar, avatarOf, emojiBadge } from '../faces.js';
import { duration, pretty } from '../format.js';

const LIVE = new Set(['running', 'waiting_permission']);
const OUTCOMES = {
  completed: ['✓', 'Completed'],
  error: ['✗', 'Failed'],
  interrupted: ['■', 'Stopped'],
  timed_out: ['⏱', 'Timed out'],
};
// Socket event names as transcript entry types (a stream's type follows its `done`).
export const WIRE_TYPES = {
  'agent-run-start': 'start',
  'agent-run-status': 'status',
  'agent-run-tool-call': 'tool-call',
  'agent-run-tool-result': 'tool-result',
  'agent-run-stream': 'stream',
  'agent-run-permission': 'permission-request',
  'agent-run-permission-response': 'permission-response',
  'agent-run-interrupt': 'interrupt',
  'agent-run-complete': 'complete',
  'agent-run-error': 'error',
  'agent-run-record': 'record',
};

/** A wire payload as a transcript entry: `{type, seq, t, ...data}`. */
export function wireEvent(name, payload) {
  let type = WIRE_TYPES[name];
  if (type === 'stream' && payload.done === true) type = 'stream-end';
  return { ...payload, type };
}

export class RunCard {
  /**
   * `run`: what is known of the run (id, agent_username, status...). `ctx`: {me, canPost,
   * deciderOf(run) -> {mayDecide, who}, decide(runId, permissionId, decision),
   * interrupt(runId, action, message), handleOf({id, username}) -> the person's handle,
   * transcriptLink: bool, keepAnswer: bool (show the finished answer too)}.
   */
  constructor(run, ctx) {
    this.run = { ...run };
    this.ctx = ctx;
    this.status = run.status || 'running';
    this.statusText = '';
    this.lastSeq = 0;
    this.t = 0; // ms since start, of the newest event
    this.startedAt = performance.now() - (run.duration || 0);
    this.items = new Map(); // tool calls, permissions, interrupts, records: key -> element
    this.tools = new Map();
    this.permissions = new Map();
    this.reasoned = new Set(); // reasoning sections whose whole text arrived
    this.stream = null; // {messageId, content, done}
    this.stopped = false;
    this.outcome = null;

    this.banner = h('div', { class: 'run-banner' });
    this.list = h('div', { class: 'run-items' });
    this.streamEl = h('div', { class: 'run-stream', hidden: true });
    this.controls = h('div', { class: 'run-controls' });
    this.footer = h('div', { class: 'run-outcome', hidden: true });
    // The runs of the sub-agents this run spawned, each a card of its own.
    this.children = h('div', { class: 'run-children', hidden: true });
    this.el = h('section', { class: 'run-card', dataset: { runId: run.id },
      'aria-label': `Run of @${run.agent_username || 'agent'}` },
    this.banner, this.list, this.streamEl, this.children, this.controls, this.footer);
    this.timer = null;
    this.refresh();
  }

  get live() {
    return LIVE.has(this.status);
  }

  /** Apply one transcript entry; entries at or below the last seq are ignored (streams
   * excepted: their relayed deltas repeat the seq and carry the whole text so far). */
  apply(event) {
    // A reasoning's record grows like a stream: its relayed deltas repeat the seq too.
    const streaming = event.type === 'stream' || event.type === 'stream-start'
      || (event.type === 'record' && event.done === false);
    if (typeof event.seq === 'number') {
      if (event.seq <= this.lastSeq && !streaming) return;
      this.lastSeq = Math.max(this.lastSeq, event.seq);
    }
    if (typeof event.t === 'number') {
      this.t = Math.max(this.t, event.t);
      if (this.live) this.startedAt = Math.min(this.startedAt, performance.now() - event.t);
    }
    const handler = this[`on_${event.type.replaceAll('-', '_')}`];
    if (handler) handler.call(this, event);
    this.refresh();
  }

  on_start(e) {
    this.run.agent_username ||= e.username;
    this.run.agent_id ||= e.agentId;
    this.run.trigger_message_id ||= e.triggerMessageId;
    this.run.parent_run_id ||= e.parentRunId;
    this.run.subagent_id ||= e.subagentId;
    this.run.label ||= e.label;
    this.status = 'running';
    this.statusText = 'started';
  }

  on_status(e) {
    this.statusText = e.status;
  }

  on_tool_call(e) {
    const tool = { ...e, status: 'running', startedAt: e.t };
    this.tools.set(e.toolCallId, tool);
    this.statusText = `running ${e.tool}`;
    this.item(`tool:${e.toolCallId}`, () => toolCard(tool));
  }

  on_tool_result(e) {
    const tool = { ...(this.tools.get(e.toolCallId) || { tool: e.tool }), ...e };
    this.tools.set(e.toolCallId, tool);
    this.item(`tool:${e.toolCallId}`, () => toolCard(tool), true);
  }

  on_stream(e) {
    if (this.stream?.done && this.stream.messageId === e.messageId) return;
    const content = typeof e.content === 'string' ? e.content
      : `${this.stream?.messageId === e.messageId ? this.stream.content : ''}${e.delta || ''}`;
    this.stream = { messageId: e.messageId, content, done: false };
    this.statusText = 'writing';
  }

  on_stream_start(e) {
    this.on_stream(e);
  }

  on_stream_end(e) {
    this.stream = { messageId: e.messageId, content: e.content || '', done: true };
  }

  on_permission_request(e) {
    const request = { ...e, decision: null };
    this.permissions.set(e.permissionId, request);
    this.status = 'waiting_permission';
    this.statusText = `waiting for approval: ${e.action}`;
    this.item(`perm:${e.permissionId}`, () => this.permissionCard(request));
  }

  on_permission_response(e) {
    const request = { ...(this.permissions.get(e.permissionId) || {}), ...e };
    this.permissions.set(e.permissionId, request);
    const pending = [...this.permissions.values()].some((p) => !p.decision);
    if (this.live) this.status = pending ? 'waiting_permission' : 'running';
    this.item(`perm:${e.permissionId}`, () => this.permissionCard(request), true);
  }

  on_interrupt(e) {
    if (e.action === 'stop') this.stopped = true;
    const who = e.by?.username ? `@${this.handleOf(e.by)}` : 'someone';
    this.item(`int:${e.seq}`, () => h('div', { class: 'run-interrupt' },
      e.action === 'stop' ? `■ ${who} asked to stop` : `↪ ${who} redirected: `,
      e.action === 'adjust' ? h('q', null, e.message || '') : null));
  }

  on_record(e) {
    if (typeof e.reasoning === 'string') {
      // The model's reasoning: folded away, growing while the model thinks, and never part
      // of the answer. One section per model call (its messageId), rebuilt as it grows.
      const key = e.messageId ? `reason:${e.messageId}` : `rec:${e.seq}`;
      const live = e.done === false;
      if (live && this.reasoned.has(key)) return; // a late delta after the whole text
      if (!live) this.reasoned.add(key);
      this.item(key, () => h('details', { class: `run-reasoning${live ? ' live' : ''}` },
        h('summary', null, live ? 'Reasoning…' : 'Reasoning'),
        h('div', { class: 'reasoning-text' }, e.reasoning)), true);
      if (live) this.statusText = 'reasoning';
      return;
    }
    const data = Object.fromEntries(Object.entries(e)
      .filter(([key]) => !['type', 'seq', 't', 'runId', 'agencyId'].includes(key)));
    this.item(`rec:${e.seq}`, () => h('details', { class: 'run-record' },
      h('summary', null, `record at ${duration(e.t)}`), h('pre', null, pretty(data))));
  }

  on_complete(e) {
    this.finish(this.stopped || e.summary === 'stopped' ? 'interrupted' : 'completed',
      e.summary);
  }

  on_error(e) {
    this.finish(this.run.status === 'timed_out' ? 'timed_out' : 'error', e.error);
  }

  /** Show a sub-agent's run inside this one. */
  adopt(child) {
    this.children.hidden = false;
    if (child.el.parentNode !== this.children) this.children.append(child.el);
  }

  finish(status, text) {
    // A sub-agent's answer goes to its parent, not the room: its stream ends with the run.
    if (this.stream && !this.stream.done) this.stream = { ...this.stream, done: true };
    if (LIVE.has(this.run.status) || !this.run.status) this.run.status = status;
    this.status = this.run.status;
    this.outcome = text ?? '';
    for (const request of this.permissions.values()) {
      if (!request.decision) request.expired = true;
    }
    for (const [id, request] of this.permissions) {
      this.item(`perm:${id}`, () => this.permissionCard(request), true);
    }
  }

  /** Add (or with `again`, rebuild) an item in the order events arrived. */
  item(key, build, again = false) {
    const existing = this.items.get(key);
    if (existing && !again) return;
    const el = build();
    if (existing) {
      // Keep a tool card open or closed as the reader left it.
      if (existing.tagName === 'DETAILS' && el.tagName === 'DETAILS' && existing.dataset.touched) {
        el.open = existing.open;
        el.dataset.touched = '1';
      }
      existing.replaceWith(el);
    } else this.list.append(el);
    if (el.tagName === 'DETAILS') {
      // Only a reader's click counts: opening a running tool card is the card's own doing.
      el.querySelector('summary')?.addEventListener('click', () => { el.dataset.touched = '1'; });
    }
    this.items.set(key, el);
  }

  /** Run events name people by username; the room knows them by their house handle. */
  handleOf(user) {
    return this.ctx.handleOf?.(user) || user.username;
  }

  permissionCard(request) {
    const decided = request.decision;
    const state = decided || (request.expired ? 'expired' : 'pending');
    const card = h('div', { class: `permission ${state}`,
      dataset: { permissionId: request.permissionId } },
    h('div', { class: 'permission-ask' }, h('span', { class: 'permission-icon' }, '⚠'), ' ',
      h('strong', null, `@${this.run.agent_username || 'agent'}`), ' asks to ',
      h('code', null, request.action || 'act')),
    request.description ? h('pre', { class: 'permission-detail' }, request.description) : null);
    if (decided) {
      const by = request.timedOut ? 'no answer in time'
        : request.decidedBy?.username ? `by @${this.handleOf(request.decidedBy)}` : '';
      card.append(h('div', { class: 'permission-decision' },
        decided === 'approve' ? '✓ Approved ' : '✗ Denied ', by,
        request.message ? h('q', null, request.message) : null));
    } else if (request.expired) {
      card.append(h('div', { class: 'permission-decision' }, 'The run ended before a decision.'));
    } else {
      const { mayDecide, who } = this.ctx.deciderOf(this.run);
      if (mayDecide) {
        const error = h('span', { class: 'form-error small' });
        const decide = (decision) => async () => {
          card.querySelectorAll('button').forEach((b) => { b.disabled = true; });
          try {
            await this.ctx.decide(this.run.id, request.permissionId, decision);
          } catch (err) {
            error.textContent = err.message || String(err);
            card.querySelectorAll('button').forEach((b) => { b.disabled = false; });
          }
        };
        card.append(h('div', { class: 'permission-buttons' },
          h('button', { type: 'button', class: 'primary approve',
            onclick: decide('approve') }, 'Approve'),
          h('button', { type: 'button', class: 'danger deny', onclick: decide('deny') },
            'Deny'),
          error));
      } else {
        card.append(h('div', { class: 'permission-waiting muted' },
          `Waiting for ${who} to decide.`));
      }
    }
    return card;
  }

  /** The agent's avatar, made once (the banner is redrawn every second). */
  face() {
    const url = avatarOf(this.run.agent_id);
    if (url && this.faceUrl !== url) {
      this.faceUrl = url;
      this.faceEl = avatar(url, this.run.agent_username);
    }
    return this.faceEl || null;
  }

  refresh() {
    const [icon, word] = OUTCOMES[this.status] || ['', ''];
    replace(this.banner,
      this.live ? h('span', { class: 'spinner', 'aria-hidden': 'true' })
        : h('span', { class: 'run-icon' }, icon),
      this.face(),
      h('strong', { class: 'run-agent' }, `@${this.run.agent_username || 'agent'}`,
        emojiBadge(this.run.agent_emoji)),
      this.run.subagent_id ? h('span', { class: 'run-subagent' },
        `sub-agent${this.run.label ? `: ${this.run.label}` : ''}`) : null,
      h('span', { class: 'run-status-text' }, this.live ? this.statusText || 'working' : word),
      h('span', { class: 'run-elapsed' }, this.elapsedText()),
      this.ctx.transcriptLink !== false ? h('a', { class: 'run-link',
        href: `/runs/${encodeURIComponent(this.run.id)}` }, 'transcript') : null);
    this.el.className = `run-card status-${this.status}${this.run.subagent_id ? ' run-child' : ''}`;

    // In a room the finished answer is a message of its own; a transcript keeps it here.
    const stream = this.stream;
    const showStream = stream?.content
      && (!stream.done || this.ctx.keepAnswer || this.run.subagent_id);
    this.streamEl.hidden = !showStream;
    if (showStream) {
      replace(this.streamEl, h('span', { class: 'stream-text' }, stream.content),
        stream.done ? null : h('span', { class: 'cursor', 'aria-hidden': 'true' }));
    }
    this.renderControls();
    this.footer.hidden = this.live;
    if (!this.live) {
      // A stopped run's summary is just "stopped": the status word says it already.
      const note = this.outcome && this.outcome.toLowerCase() !== word.toLowerCase();
      replace(this.footer, `${icon} ${word}`,
        note ? h('span', { class: 'muted' }, ` · ${this.outcome}`) : null,
        ` · ${this.elapsedText()}`,
        this.tools.size ? ` · ${plural(this.tools.size, 'tool call')}` : '');
    }
    this.tick();
  }

  elapsedText() {
    if (!this.live && typeof this.run.duration === 'number' && this.run.duration >= this.t) {
      return duration(this.run.duration);
    }
    const ms = this.live ? performance.now() - this.startedAt : this.t;
    return duration(Math.max(ms, this.t));
  }

  tick() {
    if (this.live && !this.timer) {
      this.timer = setInterval(() => {
        const el = this.banner.querySelector('.run-elapsed');
        if (el) el.textContent = this.elapsedText();
        if (!this.el.isConnected) this.stopTimer();
      }, 1000);
    } else if (!this.live) this.stopTimer();
  }

  stopTimer() {
    clearInterval(this.timer);
    this.timer = null;
  }

  renderControls() {
    if (!this.live || !this.ctx.canPost || this.ctx.me.id === this.run.agent_id
        || !this.ctx.interrupt) {
      replace(this.controls);
      this.controls.hidden = true;
      return;
    }
    if (this.controls.dataset.ready) return; // keep a half-typed redirect
    this.controls.hidden = false;
    this.controls.dataset.ready = '1';
    const error = h('span', { class: 'form-error small' });
    const input = h('input', { class: 'redirect-input', maxlength: 2000,
      placeholder: 'Redirect: tell it what to do instead', 'aria-label': 'Redirect message' });
    const send = async (action) => {
      error.textContent = '';
      const message = input.value.trim();
      if (action === 'adjust' && !message) {
        input.focus();
        return;
      }
      try {
        await this.ctx.interrupt(this.run.id, action, action === 'adjust' ? message : undefined);
        input.value = '';
      } catch (err) {
        error.textContent = err.message || String(err);
      }
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        send('adjust');
      }
    });
    replace(this.controls,
      h('button', { type: 'button', class: 'danger small stop', onclick: () => send('stop') },
        '■ Stop'),
      input,
      h('button', { type: 'button', class: 'small redirect', onclick: () => send('adjust') },
        'Redirect'),
      error);
  }

  destroy() {
    this.stopTimer();
  }
}

function toolCard(tool) {
  const status = tool.status || 'running';
  const took = tool.duration !== undefined && tool.duration !== null ? duration(tool.duration) : '';
  const icon = { running: '⟳', error: '✗' }[status] || '✓';
  const card = h('details', { class: `tool-card status-${status}`,
    dataset: { toolCallId: tool.toolCallId } },
    h('summary', null,
      h('span', { class: 'tool-icon', 'aria-hidden': 'true' }, icon),
      h('code', { class: 'tool-name' }, tool.tool),
      h('span', { class: 'tool-status' }, status),
      took ? h('span', { class: 'tool-duration' }, took) : null),
    h('div', { class: 'tool-io' },
      h('div', { class: 'tool-label' }, 'Input'),
      h('pre', { class: 'tool-input' }, pretty(tool.input) || '(none)'),
      status !== 'running' ? [h('div', { class: 'tool-label' }, 'Output'),
        h('pre', { class: 'tool-output' }, pretty(tool.output) || '(empty)')] : null));
  card.open = status === 'running';
  return card;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
