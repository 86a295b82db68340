// A room: header, timeline (with live runs inline), thinking indicators, composer, members.
// Joining sends the last seq seen, so a reconnect replays exactly what was missed; the
// timeline drops anything it already shows (by id and seq).

import { api, ApiError, isId, upload } from '../api.js';
import { h, replace } from '../dom.js';
import { atLeast } from '../format.js';
import { RunTracker } from '../runs/live.js';
import { BindingControl } from './binding.js';
import { Composer } from './composer.js';
import { CrewPanel } from './crew.js';
import { MembersPanel } from './members.js';
import { SubagentList } from './subagents.js';
import { renderMessage } from './message.js';
import { PAGE, Timeline } from './timeline.js';

const THINKING_MS = 60_000; // an indicator nobody turned off fades after this

export async function mountRoom(pane, shell, roomId) {
  const view = new RoomView(pane, shell, roomId);
  await view.open();
  return view;
}

class RoomView {
  constructor(pane, shell, roomId) {
    this.pane = pane;
    this.shell = shell;
    this.ws = shell.workspace;
    this.socket = shell.socket;
    this.roomId = roomId;
    this.me = this.ws.user;
    this.offs = [];
    this.commands = [];
    this.thinking = new Map();
    this.destroyed = false;
  }

  async open() {
    const base = `/api/agencies/${this.roomId}`;
    // Opened from a search result: the history around that message, not the newest page.
    const wanted = new URLSearchParams(location.search);
    const focusId = wanted.get('msg');
    const focusSeq = Number(wanted.get('seq'));
    const around = focusId && Number.isInteger(focusSeq) && focusSeq > 0;
    const [room, members, page] = await Promise.all([
      api('GET', base), api('GET', `${base}/members`),
      around ? api('GET', `${base}/messages?after_seq=${Math.max(0, focusSeq - PAGE / 2 - 1)}`
        + `&limit=${PAGE}`) : this.fetchOlder(null),
    ]);
    this.room = { ...(this.ws.rooms.get(this.roomId) || {}), ...room };
    this.role = this.ws.house(room.house_id)?.role || 'guest';
    this.canPost = atLeast(this.role, 'member');
    this.binding = new BindingControl({
      room: this.room,
      canBind: atLeast(this.role, 'admin') && !this.room.dm,
      onChange: (updated) => this.roomUpdated(updated),
    });
    this.ws.setOpenRoom(this.roomId);
    api('GET', `${base}/commands`).then((list) => {
      this.commands = list;
      this.composer?.suggest(); // someone may have typed `/` already
    }, () => {});

    this.subagents = new SubagentList({ roomId: this.roomId });
    this.subagents.refresh();
    this.members = new MembersPanel({
      me: this.me,
      extra: this.subagents.el,
      onMention: (handle) => this.composer.insert(`@${handle} `),
      onMessage: (member) => this.openDm(member),
    });
    this.members.set(members);
    this.crew = new CrewPanel({
      roomId: this.roomId,
      socket: this.socket,
      agents: () => this.members.members.filter((m) => m.type === 'agent'),
      canStart: this.canPost && this.me.type !== 'agent' && !this.room.dm,
      canManage: atLeast(this.role, 'admin'),
    });
    this.crew.listen();
    this.crew.load();
    this.timeline = new Timeline({
      fetchOlder: (id) => this.fetchOlder(id),
      fetchNewer: (seq) => api('GET', `${base}/messages?after_seq=${seq}&limit=${PAGE}`),
      render: (message) => renderMessage(message, this.messageCtx()),
      onChange: () => this.onTimelineChange(),
    });
    this.composer = new Composer({
      members: () => this.members.members,
      commands: () => this.commands,
      send: (text, attachments) => this.send(text, attachments),
      upload: (file) => upload(`/api/agencies/${this.roomId}/attachments`, file),
      disabledReason: this.canPost ? null : 'Guests can only read here.',
    });
    this.thinkingEl = h('div', { class: 'thinking', 'aria-live': 'polite' });
    this.tracker = new RunTracker({
      roomId: this.roomId, socket: this.socket, timeline: this.timeline,
      cardCtx: this.cardCtx(),
    });
    if (around) {
      this.timeline.showAround(page, focusId, room.last_seq || 0);
      this.render();
      this.timeline.focus(focusId);
    } else {
      this.timeline.reset(page);
      this.render();
      this.timeline.scrollToBottom();
    }
    this.timeline.checkEdges();
    this.listen();
    // Ready to type in, unless the person already types elsewhere (the search box, say):
    // a room that finished loading must not take their keys.
    const typing = document.activeElement?.matches?.('input, textarea, select, [contenteditable]');
    if (!typing) this.composer.focus();
    // Joining and catching up live runs are socket round trips: they finish in the background,
    // so a slow answer never holds the next navigation (the app routes one screen at a time).
    (async () => {
      if (this.socket.connected) await this.join();
      if (!this.destroyed) await this.tracker.catchUp();
    })();
  }

  fetchOlder(beforeId) {
    const before = beforeId ? `&before=${encodeURIComponent(beforeId)}` : '';
    return api('GET', `/api/agencies/${this.roomId}/messages?limit=${PAGE}${before}`);
  }

  render() {
    const room = this.room;
    const title = room.dm ? `@ ${room.peer?.display_name || room.name}` : `# ${room.name}`;
    this.memberToggle = h('button', {
      type: 'button', class: 'ghost members-toggle', 'aria-expanded': 'true',
      onclick: () => this.toggleMembers(),
    }, `Members (${this.members.members.length})`);
    const notMember = room.isMember === false && !room.dm;
    replace(this.pane, h('section', { class: 'room', dataset: { roomId: this.roomId } },
      h('header', { class: 'room-header' },
        h('div', { class: 'room-title' },
          h('h2', null, title, room.is_private && !room.dm ? ' 🔒' : ''),
          room.charter ? h('p', { class: 'charter muted' }, room.charter) : null),
        this.binding.el,
        notMember && this.canPost ? h('button', { type: 'button', class: 'primary small join',
          onclick: () => this.joinRoom() }, 'Join room') : null,
        this.memberToggle),
      h('div', { class: 'room-body' },
        h('div', { class: 'room-main' }, this.crew.el, this.timeline.wrap, this.thinkingEl, this.composer.el),
        this.members.el)));
    this.composer.watchDrops(this.pane.querySelector('.room-main'));
  }

  /** The room's settings or binding changed: show its new view. */
  roomUpdated(room) {
    this.room = { ...this.room, ...room };
    this.binding.set(this.room);
    this.render();
    this.timeline.scrollToBottom();
  }

  toggleMembers() {
    const section = this.pane.querySelector('.room');
    // Phones hide the members by default; wider screens show them.
    const shown = window.matchMedia('(max-width: 760px)').matches
      ? section.classList.toggle('members-open')
      : !section.classList.toggle('members-hidden');
    this.memberToggle.setAttribute('aria-expanded', String(shown));
  }

  messageCtx() {
    return {
      me: { id: this.me.id, handles: this.myHandles() },
      canPost: this.canPost,
      canModerate: atLeast(this.role, 'admin'),
      onEdit: async (message, content) => {
        const view = await api('PATCH', `/api/messages/${message.id}`, { content });
        this.timeline.replaceMessage(message.id, view);
      },
      onDelete: async (message) => {
        try {
          await api('DELETE', `/api/messages/${message.id}`);
        } catch (err) {
          alert(err.message);
        }
      },
      onMention: (handle) => this.composer.insert(`@${handle} `),
      runLink: (runId) => this.runLink(runId),
      onReact: async (message, emoji, adding) => {
        const path = `/api/messages/${message.id}/reactions`;
        try {
          const answer = adding ? await api('POST', path, { emoji })
            : await api('DELETE', `${path}/${encodeURIComponent(emoji)}`);
          this.timeline.replaceMessage(message.id, { reactions: answer.reactions });
        } catch (err) {
          alert(err.message);
        }
      },
    };
  }

  myHandles() {
    const mine = this.members?.members.find((m) => m.id === this.me.id);
    return [this.me.username, mine?.handle].filter(Boolean);
  }

  cardCtx() {
    return {
      me: this.me,
      canPost: this.canPost && this.me.type !== 'agent',
      deciderOf: (run) => this.deciderOf(run),
      decide: (runId, permissionId, decision) => api('POST',
        `/api/runs/${encodeURIComponent(runId)}/permissions/${encodeURIComponent(permissionId)}`,
        { decision }),
      interrupt: (runId, action, message) =>
        api('POST', `/api/runs/${encodeURIComponent(runId)}/interrupt`, { action, message }),
      handleOf: (user) => this.handleOf(user),
    };
  }

  /** How the room shows a person a run event names ({id, username}): their house handle. */
  handleOf(user) {
    // People may post in a public room without joining it: then their messages know them.
    return this.members.members.find((m) => m.id === user.id)?.handle
      || this.timeline.senderHandle(user.id) || user.username;
  }

  /** Who may answer a run's permission requests: the person whose message started it;
   * house admins when no person did. (The server has the last word.) */
  deciderOf(run) {
    const trigger = this.timeline.message(run.trigger_message_id);
    const human = this.me.type !== 'agent';
    if (trigger && trigger.sender_type === 'user') {
      const who = trigger.sender_id === this.me.id ? 'you'
        : `@${trigger.sender_handle || trigger.sender_username}`;
      return { mayDecide: human && trigger.sender_id === this.me.id, who };
    }
    if (trigger) return { mayDecide: human && atLeast(this.role, 'admin'), who: 'a house admin' };
    return { mayDecide: human && this.canPost, who: 'the person who started this run' };
  }

  runLink(runId) {
    if (!isId(runId)) return null;
    const slot = h('div', { class: 'run-slot' });
    const toggle = h('button', { type: 'button', class: 'link', onclick: async () => {
      if (slot.firstChild) {
        replace(slot);
        toggle.textContent = 'show steps';
        return;
      }
      try {
        const card = await this.tracker.cardFor(runId);
        replace(slot, card.el);
        toggle.textContent = 'hide steps';
      } catch (err) {
        replace(slot, h('span', { class: 'form-error small' }, err.message));
      }
    } }, 'show steps');
    return h('div', { class: 'run-ref' }, '⚙ from a run · ', toggle, ' · ',
      h('a', { href: `/runs/${encodeURIComponent(runId)}` }, 'transcript'), slot);
  }

  listen() {
    const on = (event, fn) => this.offs.push(this.socket.on(event, (data) => {
      if (!this.destroyed && data && (data.agencyId || data.agency_id) === this.roomId) fn(data);
    }));
    on('message', (message) => {
      this.timeline.add(message);
      this.stopThinking(message.sender_id);
      // A child's end is recorded after its run ends; the parent's answer follows it.
      if (this.subagents.live) this.subagents.refresh();
    });
    on('message-edited', (e) => this.timeline.replaceMessage(e.messageId,
      { content: e.content, metadata: e.metadata, edited_at: e.edited_at }));
    on('message-deleted', (e) => this.timeline.replaceMessage(e.messageId,
      { deleted: true, content: '', metadata: {} }));
    const reacted = (e) => this.timeline.replaceMessage(e.messageId, { reactions: e.reactions });
    on('reaction-added', reacted);
    on('reaction-removed', reacted);
    on('agent-thinking', (e) => (e.thinking ? this.startThinking(e) : this.stopThinking(e.userId)));
    on('member-presence', (e) => this.members.presence(e.userId, e.online));
    // A child's run starting or ending changes the room's sub-agents.
    for (const event of ['agent-run-start', 'agent-run-complete', 'agent-run-error']) {
      on(event, () => this.subagents.refresh());
    }
    on('members-updated', (e) => {
      this.members.set(e.members);
      this.memberToggle.textContent = `Members (${e.members.length})`;
    });
    // A room's own view names it by `id`, not `agencyId`.
    this.offs.push(this.socket.on('agency-updated', (room) => {
      if (!this.destroyed && room?.id === this.roomId) this.roomUpdated(room);
    }));
    this.offs.push(this.socket.on('connect', async () => {
      if (this.destroyed) return;
      await this.join();
      try {
        await this.timeline.refreshLoaded();
      } catch {
        // The server is out of reach again: the next connect refreshes.
      }
      await this.tracker.catchUp();
    }));
  }

  async join() {
    try {
      const ack = await this.socket.call('join-agency',
        { agencyId: this.roomId, lastSeq: this.timeline.latestSeq });
      if (!ack?.ok) return;
      this.ws.noteSeq(this.roomId, ack.lastSeq);
      this.members.set(ack.members);
      this.memberToggle.textContent = `Members (${ack.members.length})`;
    } catch {
      // Lost the connection again: the next connect joins.
    }
  }

  async joinRoom() {
    try {
      await api('POST', `/api/agencies/${this.roomId}/join`);
      await this.ws.reload();
      this.room = { ...this.room, isMember: true };
      this.render();
      this.timeline.scrollToBottom();
    } catch (err) {
      alert(err.message);
    }
  }

  async openDm(member) {
    try {
      const { agency } = await api('POST', `/api/dm/${member.id}`);
      await this.ws.reload();
      this.shell.navigate(`/rooms/${agency.id}`);
    } catch (err) {
      alert(err instanceof ApiError ? err.message : String(err));
    }
  }

  async send(text, attachments = []) {
    const command = text.startsWith('/') && !attachments.length;
    const files = attachments.length ? { attachments } : {};
    if (!this.socket.connected) {
      const answer = await api('POST', `/api/agencies/${this.roomId}/messages`,
        { content: text, ...files });
      if (!command) this.timeline.add(answer);
      return;
    }
    // Commands run visibly: the result is posted (or shown only to the sender).
    const ack = await this.socket.call('send-message',
      { agencyId: this.roomId, content: text, ...files, ...(command ? { silent: false } : {}) });
    if (!ack?.ok) throw new Error(ack?.error || 'the message was not sent');
    if (ack.message) this.timeline.add(ack.message);
  }

  startThinking(e) {
    this.stopThinking(e.userId);
    const timer = setTimeout(() => this.stopThinking(e.userId), THINKING_MS);
    this.thinking.set(e.userId, { name: e.username, status: e.status, timer });
    this.renderThinking();
  }

  stopThinking(userId) {
    const known = this.thinking.get(userId);
    if (!known) return;
    clearTimeout(known.timer);
    this.thinking.delete(userId);
    this.renderThinking();
  }

  renderThinking() {
    replace(this.thinkingEl, [...this.thinking.values()].map((t) => h('span',
      { class: 'thinking-item' },
      h('strong', null, `@${t.name}`), ` is ${t.status || 'thinking'}`,
      h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')))));
  }

  onTimelineChange() {
    this.tracker?.windowChanged();
    const t = this.timeline;
    if (t.atLatest && t.nearBottom() && document.visibilityState === 'visible') {
      this.ws.markRead(this.roomId, t.latestSeq);
    }
  }

  destroy() {
    this.destroyed = true;
    this.offs.forEach((off) => off());
    this.tracker?.destroy();
    this.timeline?.destroy();
    this.crew?.destroy();
    for (const t of this.thinking.values()) clearTimeout(t.timer);
    if (this.room?.isMember === false) this.socket.emit('leave-agency', { agencyId: this.roomId });
    this.ws.setOpenRoom(null);
  }
}
