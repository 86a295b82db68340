// The runs of the open room: each appears inline just after the message that started it,
// follows the room's `agent-run-*` events, and catches up after a reconnect.

import { api } from '../api.js';
import { RunCard, WIRE_TYPES, wireEvent } from './card.js';

const LIVE = new Set(['running', 'waiting_permission']);
const ENDINGS = new Set(['complete', 'error']);

export class RunTracker {
  /** `cardCtx` is what every card gets (see RunCard); `timeline` places the cards. */
  constructor({ roomId, socket, timeline, cardCtx }) {
    this.roomId = roomId;
    this.socket = socket;
    this.timeline = timeline;
    this.cardCtx = cardCtx;
    this.cards = new Map();
    this.loading = new Map(); // runId -> events that arrived while its run was fetched
    this.offs = Object.keys(WIRE_TYPES).map((name) => socket.on(name, (payload) => {
      if (payload?.agencyId === roomId && payload.runId) this.receive(name, payload);
    }));
  }

  destroy() {
    this.offs.forEach((off) => off());
    for (const card of this.cards.values()) card.destroy();
  }

  async receive(name, payload) {
    const event = wireEvent(name, payload);
    const card = this.cards.get(payload.runId);
    if (card) {
      this.apply(card, event);
      return;
    }
    if (this.loading.has(payload.runId)) {
      this.loading.get(payload.runId).push(event);
      return;
    }
    if (event.type === 'start') {
      this.add({ id: payload.runId, agent_username: payload.username, agent_id: payload.agentId,
        trigger_message_id: payload.triggerMessageId, status: 'running' }, [event]);
    } else {
      await this.load(payload.runId, [event]);
    }
  }

  apply(card, event) {
    card.apply(event);
    if (ENDINGS.has(event.type)) this.settle(card);
  }

  /** Read the ended run's exact status and duration (a stop shows as interrupted). */
  async settle(card) {
    try {
      const run = await api('GET', `/api/runs/${encodeURIComponent(card.run.id)}`);
      Object.assign(card.run, { status: run.status, duration: run.duration });
      card.status = run.status;
      card.refresh();
    } catch {
      // The card already shows the ending the event told.
    }
  }

  /** Fetch a run with its transcript and show it; `extra` events arrived meanwhile. */
  async load(runId, extra = []) {
    this.loading.set(runId, [...extra]);
    try {
      const run = await api('GET', `/api/runs/${encodeURIComponent(runId)}`);
      const card = this.add(run, run.transcript);
      for (const event of this.loading.get(runId) || []) this.apply(card, event);
      return card;
    } catch {
      return null;
    } finally {
      this.loading.delete(runId);
    }
  }

  add(run, events) {
    const card = new RunCard(run, this.cardCtx);
    for (const event of events) card.apply(event);
    if (run.status) {
      card.run.status = run.status;
      card.status = LIVE.has(run.status) ? card.status : run.status;
      card.refresh();
    }
    this.cards.set(run.id, card);
    this.place(card);
    return card;
  }

  place(card) {
    // A sub-agent's run shows inside its parent's card, when that card is here.
    const parent = card.run.parent_run_id && this.cards.get(card.run.parent_run_id);
    if (parent) {
      parent.adopt(card);
      return;
    }
    if (card.key === undefined) {
      const trigger = this.timeline.message(card.run.trigger_message_id);
      card.key = trigger && typeof trigger.seq === 'number' ? trigger.seq + 0.5
        : this.timeline.looseKey(0.5);
    }
    if (!card.el.isConnected && this.timeline.covers(card.key)) {
      this.timeline.placeElement(`run:${card.run.id}`, card.key, card.el);
      card.tick(); // its clock stopped when the timeline unloaded it
    }
  }

  /** The timeline moved: put back the cards whose place is in view again. */
  windowChanged() {
    for (const card of this.cards.values()) {
      if (!card.el.isConnected && !card.run.parent_run_id) {
        this.timeline.byId.delete(`run:${card.run.id}`);
        this.place(card);
      }
    }
  }

  /** Show the room's live runs (on opening the room, and after a reconnect). */
  async catchUp() {
    for (const card of this.cards.values()) {
      if (!card.live) continue;
      try {
        const answer = await this.socket.call('agent-run-events',
          { runId: card.run.id, afterSeq: card.lastSeq });
        for (const event of answer?.events || []) this.apply(card, event);
        if (answer?.ok && !LIVE.has(answer.status)) this.settle(card);
      } catch {
        // Disconnected again: the next connect catches up.
      }
    }
    let recent = [];
    try {
      recent = await api('GET', `/api/agencies/${this.roomId}/runs?limit=10`);
    } catch {
      return;
    }
    for (const run of recent) {
      if (LIVE.has(run.status) && !this.cards.has(run.id) && !this.loading.has(run.id)) {
        await this.load(run.id);
      }
    }
  }

  /** A finished run shown inside its final message (history), fetched on demand. */
  async cardFor(runId) {
    const run = await api('GET', `/api/runs/${encodeURIComponent(runId)}`);
    const card = new RunCard(run, { ...this.cardCtx, transcriptLink: true });
    for (const event of run.transcript) card.apply(event);
    card.run.status = run.status;
    card.status = run.status;
    card.refresh();
    return card;
  }
}
