// /runs/{id}: a run's transcript, replayed step by step (or all at once), with every event
// listed by time. A run still going keeps growing as its events arrive.

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { duration, fullTime, pretty } from '../format.js';
import { RunCard, WIRE_TYPES, wireEvent } from './card.js';

const PLAY_STEP_MS = 600;

export async function mountTranscript(pane, shell, runId) {
  const run = await api('GET', `/api/runs/${encodeURIComponent(runId)}`);
  // Run events name people by username; the house's members give their handles.
  const houseId = shell.workspace.rooms.get(run.agencyId)?.house_id;
  const members = houseId ? await api('GET', `/api/houses/${encodeURIComponent(houseId)}/members`)
    .catch(() => []) : [];
  const view = new TranscriptView(pane, shell, run, members);
  view.render();
  return view;
}

class TranscriptView {
  constructor(pane, shell, run, members) {
    this.pane = pane;
    this.shell = shell;
    this.run = run;
    this.handles = new Map(members.map((m) => [m.id, m.handle]));
    this.events = run.transcript;
    this.step = this.events.length; // how many events are applied
    this.playing = null;
    this.offs = Object.keys(WIRE_TYPES).map((name) => shell.socket.on(name, (payload) => {
      if (payload?.runId === run.id && typeof payload.seq === 'number') this.grow(name, payload);
    }));
  }

  grow(name, payload) {
    const event = wireEvent(name, payload);
    const last = this.events.at(-1);
    // Relayed stream deltas repeat the latest seq: they refresh, they are not new entries.
    if (last && event.seq <= last.seq) return;
    const following = this.step === this.events.length;
    this.events.push(event);
    if (following) this.step = this.events.length;
    this.show();
  }

  render() {
    const run = this.run;
    this.slider = h('input', { type: 'range', min: 0, max: this.events.length, value: this.step,
      class: 'replay-slider', 'aria-label': 'Replay position',
      oninput: () => this.goto(Number(this.slider.value)) });
    this.position = h('span', { class: 'replay-position' });
    this.playButton = h('button', { type: 'button', class: 'play',
      onclick: () => this.togglePlay() }, '▶ Replay');
    this.cardSlot = h('div', { class: 'replay-card' });
    this.list = h('ol', { class: 'event-list' });
    replace(this.pane, h('section', { class: 'transcript' },
      h('header', { class: 'transcript-header' },
        h('h2', null, `Run of @${run.agent_username || 'agent'}`),
        h('p', { class: 'muted' }, `Started ${fullTime(run.started_at)} · `,
          h('span', { class: `run-status status-${run.status}` }, run.status.replace('_', ' ')),
          ` · ${duration(run.duration)} · ${this.events.length} events`),
        run.description ? h('blockquote', { class: 'run-trigger' }, run.description) : null,
        run.summary ? h('p', null, h('strong', null, 'Summary: '), run.summary) : null,
        run.error ? h('p', { class: 'form-error' }, h('strong', null, 'Error: '), run.error) : null,
        h('a', { href: `/rooms/${run.agencyId}` }, '← Back to the room')),
      h('div', { class: 'replay-controls' },
        h('button', { type: 'button', class: 'first', 'aria-label': 'First step',
          onclick: () => this.goto(0) }, '«'),
        h('button', { type: 'button', class: 'prev', 'aria-label': 'Previous step',
          onclick: () => this.goto(this.step - 1) }, '◀'),
        this.playButton,
        h('button', { type: 'button', class: 'next', 'aria-label': 'Next step',
          onclick: () => this.goto(this.step + 1) }, '▶'),
        h('button', { type: 'button', class: 'last', 'aria-label': 'Last step',
          onclick: () => this.goto(this.events.length) }, '»'),
        this.slider, this.position),
      h('div', { class: 'transcript-body' }, this.cardSlot, this.list)));
    this.show();
  }

  goto(step) {
    this.step = Math.max(0, Math.min(this.events.length, step));
    this.show();
  }

  togglePlay() {
    if (this.playing) {
      this.pause();
      return;
    }
    if (this.step >= this.events.length) this.step = 0;
    this.playButton.textContent = '⏸ Pause';
    this.playing = setInterval(() => {
      if (this.step >= this.events.length) this.pause();
      else this.goto(this.step + 1);
    }, PLAY_STEP_MS);
    this.show();
  }

  pause() {
    clearInterval(this.playing);
    this.playing = null;
    this.playButton.textContent = '▶ Replay';
  }

  /** Rebuild the card from the first `step` events, and mark them in the list. */
  show() {
    this.card?.destroy();
    const finished = this.step === this.events.length;
    this.card = new RunCard({ ...this.run, status: finished ? this.run.status : 'running',
      duration: finished ? this.run.duration : this.events[this.step - 1]?.t || 0 }, {
      me: this.shell.workspace.user, canPost: false, transcriptLink: false, keepAnswer: true,
      deciderOf: () => ({ mayDecide: false, who: 'the person who started the run' }),
      handleOf: (user) => this.handleOf(user),
    });
    for (const event of this.events.slice(0, this.step)) this.card.apply(event);
    if (!finished) this.card.stopTimer();
    replace(this.cardSlot, this.card.el);
    this.slider.max = String(this.events.length);
    this.slider.value = String(this.step);
    const current = this.events[this.step - 1];
    this.position.textContent = `step ${this.step} of ${this.events.length}`
      + (current ? ` · ${current.type} at ${duration(current.t)}` : '');
    replace(this.list, this.events.map((event, i) => h('li', {
      class: ['event', `type-${event.type}`, i < this.step && 'shown',
        i === this.step - 1 && 'current'].filter(Boolean).join(' '),
      onclick: () => this.goto(i + 1),
    }, h('span', { class: 'event-seq' }, `#${event.seq}`),
    h('span', { class: 'event-time' }, `+${duration(event.t)}`),
    h('span', { class: 'event-type' }, event.type),
    h('span', { class: 'event-summary' }, summarize(event, (user) => this.handleOf(user))))));
  }

  handleOf(user) {
    return this.handles.get(user.id) || user.username;
  }

  destroy() {
    this.pause();
    this.card?.destroy();
    this.offs.forEach((off) => off());
  }
}

function summarize(e, handleOf) {
  switch (e.type) {
    case 'start': return e.description || e.name || '';
    case 'status': return e.status;
    case 'tool-call': return `${e.tool} ${pretty(e.input).slice(0, 120)}`;
    case 'tool-result':
      return `${e.tool} → ${e.status}${e.duration ? ` in ${duration(e.duration)}` : ''}`;
    case 'stream':
    case 'stream-start':
    case 'stream-end': return (e.content || '').slice(0, 140);
    case 'permission-request': return `asks: ${e.action}`;
    case 'permission-response':
      return [e.decision, e.decidedBy && `by @${handleOf(e.decidedBy)}`,
        e.timedOut && '(no answer)'].filter(Boolean).join(' ');
    case 'interrupt': return `${e.action}${e.message ? `: ${e.message}` : ''}`;
    case 'record': return typeof e.reasoning === 'string'
      ? `reasoning: ${e.reasoning.slice(0, 120)}` : '';
    case 'complete': return e.summary || '';
    case 'error': return e.error || '';
    default: return '';
  }
}
