// A room's timeline as a window over its log: only up to MAX_RENDERED entries are in the
// page at once. Scrolling up loads older pages and unloads the newest end; scrolling back
// down loads newer pages and unloads the oldest end, so a long history keeps memory flat.
// Entries are ordered by a key: a message's seq; a run card sits just after its trigger.
// When what is shown grows (a run card asks permission, steps unfold), a reader at the bottom
// stays at the bottom; a reader scrolled up is told something new is below.

import { h } from '../dom.js';

export const PAGE = 50;
export const MAX_RENDERED = 200;
const NEAR_PX = 120;
const EDGE_PX = 800; // load the next page this far before the reader reaches the edge

export class Timeline {
  /**
   * `fetchOlder(beforeId)` -> messages newest first; `fetchNewer(afterSeq)` -> oldest first;
   * `render(message)` -> element; `onChange()` after the window moved or grew.
   */
  constructor({ fetchOlder, fetchNewer, render, onChange }) {
    this.fetchOlder = fetchOlder;
    this.fetchNewer = fetchNewer;
    this.render = render;
    this.onChange = onChange || (() => {});
    this.entries = []; // sorted by key: {key, id, message?, el}
    this.byId = new Map();
    this.latestSeq = 0; // the newest seq known in the room, rendered or not
    this.atLatest = true; // the window reaches the newest message
    this.reachedStart = false;
    this.loading = false;
    this.unseen = 0;
    this.extra = 0; // tie-breaker for keys of entries without a seq
    this.pinned = true; // the reader was at the bottom when they last scrolled
    this.autoTop = null; // where our own last scroll to the bottom left the view
    this.below = 0; // how far the content went on below the view, as last seen

    this.top = h('div', { class: 'timeline-edge top' });
    this.bottom = h('div', { class: 'timeline-edge bottom' });
    this.emptyNote = h('p', { class: 'timeline-empty muted', hidden: true },
      'No messages yet. Say hello!');
    this.list = h('div', { class: 'timeline-list' }, this.top, this.emptyNote, this.bottom);
    this.jump = h('button', { type: 'button', class: 'jump-latest', hidden: true,
      onclick: () => this.jumpToLatest() }, 'New messages ↓');
    this.el = h('div', { class: 'timeline', role: 'log', 'aria-live': 'polite',
      tabindex: 0 }, this.list);
    this.wrap = h('div', { class: 'timeline-wrap' }, this.el, this.jump);
    this.el.addEventListener('scroll', () => this.onScroll(), { passive: true });
    // Cards grow without the timeline knowing (permission requests, steps shown), and the
    // view shrinks when the composer grows: follow both.
    this.resizes = new ResizeObserver(() => this.onResize());
    this.resizes.observe(this.list);
    this.resizes.observe(this.el);
  }

  destroy() {
    this.resizes.disconnect();
  }

  /** Show the newest page (messages newest first, as the API answers). */
  reset(newestFirst) {
    for (const entry of this.entries) entry.el.remove();
    this.entries = [];
    this.byId.clear();
    this.atLatest = true;
    this.reachedStart = newestFirst.length < PAGE;
    this.unseen = 0;
    this.jump.hidden = true;
    const oldestFirst = [...newestFirst].reverse();
    for (const message of oldestFirst) this.place(this.messageEntry(message));
    this.emptyNote.hidden = this.entries.length > 0;
    this.noteSeq(oldestFirst.at(-1)?.seq);
    this.scrollToBottom();
    this.onChange();
    this.checkEdges();
  }

  /** Show a stretch of history (oldest first) that need not reach either end of the log. */
  showAround(oldestFirst, focusId, latestSeq) {
    for (const entry of this.entries) entry.el.remove();
    this.entries = [];
    this.byId.clear();
    for (const message of oldestFirst) this.place(this.messageEntry(message));
    this.emptyNote.hidden = this.entries.length > 0;
    this.noteSeq(latestSeq);
    this.noteSeq(oldestFirst.at(-1)?.seq);
    this.reachedStart = (oldestFirst[0]?.seq ?? 1) <= 1;
    this.atLatest = (oldestFirst.at(-1)?.seq ?? 0) >= this.latestSeq;
    this.unseen = 0;
    this.jump.hidden = this.atLatest;
    if (!this.atLatest) this.showJump();
    this.onChange();
  }

  /** Bring a shown message into view and mark it for a moment (a search result). */
  focus(id) {
    const entry = this.byId.get(id);
    if (!entry) return;
    entry.el.classList.add('search-hit');
    entry.el.scrollIntoView({ block: 'center' });
    this.pinned = this.nearBottom();
    this.autoTop = null;
    this.below = this.distanceBelow();
  }

  messageEntry(message) {
    const key = typeof message.seq === 'number' ? message.seq : this.looseKey(0.25);
    return { key, id: message.id, message, el: this.render(message) };
  }

  /** A key just after the newest entry, for things without a seq (ephemeral results). */
  looseKey(offset) {
    this.extra += 1;
    const last = this.entries.at(-1)?.key ?? this.latestSeq;
    return Math.max(Math.floor(last), this.latestSeq) + offset + this.extra * 1e-6;
  }

  noteSeq(seq) {
    if (typeof seq === 'number' && seq > this.latestSeq) this.latestSeq = seq;
  }

  get newestSeq() {
    for (let i = this.entries.length - 1; i >= 0; i -= 1) {
      if (typeof this.entries[i].message?.seq === 'number') return this.entries[i].message.seq;
    }
    return 0;
  }

  oldestMessage() {
    return this.entries.find((e) => typeof e.message?.seq === 'number')?.message || null;
  }

  /** A message from the socket (live or replayed). Returns false for one already shown. */
  add(message) {
    if (this.byId.has(message.id)) return false;
    const seq = message.seq;
    if (typeof seq === 'number') {
      if (seq <= this.newestSeq && this.entries.some((e) => e.message?.seq === seq)) return false;
      const oldest = this.oldestMessage();
      // Older than the window: it belongs to history that is not loaded.
      if (oldest && seq < oldest.seq && !this.reachedStart) return false;
      const known = this.latestSeq;
      this.noteSeq(seq);
      const gap = seq > known + 1 && known > 0; // missed while away
      if (gap && this.atLatest && !this.stuck()) {
        // The reader is up in the history: the gap loads when they scroll down to it.
        this.atLatest = false;
      }
      if (!this.atLatest) {
        this.unseen += 1;
        this.showJump();
        return true;
      }
      if (gap) {
        // Fetch what is missing rather than show a hole.
        this.fillGap(known, message);
        return true;
      }
    }
    const stick = this.stuck();
    this.place(this.messageEntry(message));
    if (stick) {
      this.trim('old');
      this.scrollToBottom();
    } else if (typeof seq === 'number') {
      // The reader is up in the history: past a full window the newest end waits unloaded
      // until they scroll back down.
      this.trim('new');
      this.unseen += 1;
      this.showJump();
    }
    this.onChange();
    return true;
  }

  /** Fetch the messages after `afterSeq` up to `message` (which revealed the gap), then
   * show them all. A failed fetch leaves the gap to the next reconnect's replay. */
  async fillGap(afterSeq, message) {
    const stick = this.stuck();
    let after = afterSeq;
    try {
      while (after < message.seq - 1) {
        const page = await this.fetchNewer(after);
        for (const missing of page) {
          if (!this.byId.has(missing.id)) this.place(this.messageEntry(missing));
          this.noteSeq(missing.seq);
        }
        if (page.length < PAGE) break;
        after = page.at(-1).seq;
        this.trim('old');
      }
    } catch (err) {
      console.warn('could not fetch the missed messages', err);
    }
    if (!this.byId.has(message.id)) this.place(this.messageEntry(message));
    this.trim('old');
    if (stick) this.scrollToBottom();
    this.onChange();
  }

  /** Bring the loaded messages up to date with the room's log: edits and deletes made while
   * the socket was down are not replayed on rejoining, only new messages are. */
  async refreshLoaded() {
    const oldest = this.oldestMessage();
    if (!oldest) return;
    const newest = this.newestSeq;
    const stick = this.stuck();
    let after = oldest.seq - 1;
    while (after < newest) {
      const page = await this.fetchNewer(after);
      for (const fresh of page) {
        const shown = this.byId.get(fresh.id)?.message;
        // A live edit may have arrived while the page was fetched: keep the newer copy.
        const changed = (fresh.deleted && !shown?.deleted)
          || (fresh.edited_at || '') > (shown?.edited_at || '');
        if (shown && changed) this.replaceMessage(fresh.id, fresh);
      }
      if (page.length < PAGE) break;
      after = page.at(-1).seq;
    }
    if (stick) this.scrollToBottom();
  }

  /** Put any element (a run card) at a key; it stays if the window covers the key. */
  placeElement(id, key, el) {
    if (this.byId.has(id)) return;
    const stick = this.stuck();
    this.place({ key, id, el });
    if (stick) this.scrollToBottom();
  }

  has(id) {
    return this.byId.has(id);
  }

  /** The house handle a shown message gives its sender, if one is shown. */
  senderHandle(userId) {
    return this.entries.find((e) => e.message?.sender_id === userId)?.message.sender_handle
      || null;
  }

  message(id) {
    return this.byId.get(id)?.message || null;
  }

  /** Whether a key falls in the part of the log this window shows. */
  covers(key) {
    const first = this.entries[0]?.key ?? -Infinity;
    return (key >= first || this.reachedStart) && (this.atLatest || key <= this.newestSeq);
  }

  /** Replace a shown message (edited, deleted) and re-render it. */
  replaceMessage(id, update) {
    const entry = this.byId.get(id);
    if (!entry?.message) return;
    entry.message = { ...entry.message, ...update };
    const fresh = this.render(entry.message);
    entry.el.replaceWith(fresh);
    entry.el = fresh;
  }

  place(entry) {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid].key <= entry.key) lo = mid + 1;
      else hi = mid;
    }
    this.entries.splice(lo, 0, entry);
    this.byId.set(entry.id, entry);
    this.list.insertBefore(entry.el, this.entries[lo + 1]?.el || this.bottom);
    this.emptyNote.hidden = true;
  }

  remove(entry) {
    entry.el.remove();
    this.byId.delete(entry.id);
  }

  /** Unload entries beyond the window: 'new' drops the newest end, 'old' the oldest. */
  trim(end) {
    const excess = this.entries.length - MAX_RENDERED;
    if (excess <= 0) return;
    if (end === 'new') {
      this.entries.splice(-excess).forEach((e) => this.remove(e));
      this.atLatest = false;
    } else {
      this.entries.splice(0, excess).forEach((e) => this.remove(e));
      this.reachedStart = false;
    }
  }

  async loadOlder() {
    if (this.loading || this.reachedStart) return;
    const oldest = this.oldestMessage();
    if (!oldest) return;
    this.loading = true;
    try {
      const older = await this.fetchOlder(oldest.id);
      if (older.length < PAGE) this.reachedStart = true;
      this.keepPosition(() => {
        for (const message of older) {
          if (!this.byId.has(message.id)) this.place(this.messageEntry(message));
        }
        this.trim('new');
      });
      this.onChange();
    } finally {
      this.loading = false;
    }
    this.checkEdges();
  }

  async loadNewer() {
    if (this.loading || this.atLatest) return;
    this.loading = true;
    try {
      const newer = await this.fetchNewer(this.newestSeq);
      this.keepPosition(() => {
        for (const message of newer) {
          if (!this.byId.has(message.id)) this.place(this.messageEntry(message));
          this.noteSeq(message.seq);
        }
        if (newer.length < PAGE || this.newestSeq >= this.latestSeq) {
          this.atLatest = true;
          this.unseen = 0;
          this.jump.hidden = true;
        }
        this.trim('old');
      });
      this.onChange();
    } finally {
      this.loading = false;
    }
    this.checkEdges();
  }

  async jumpToLatest() {
    if (this.atLatest) {
      this.scrollToBottom();
      this.unseen = 0;
      this.jump.hidden = true;
      return;
    }
    this.reset(await this.fetchOlder(null));
  }

  /** Run a DOM change without moving what the reader is looking at. */
  keepPosition(change) {
    const view = this.el.getBoundingClientRect();
    const anchor = this.entries.find((e) => e.el.getBoundingClientRect().bottom > view.top);
    const before = anchor ? anchor.el.getBoundingClientRect().top : 0;
    change();
    if (anchor && anchor.el.isConnected) {
      this.el.scrollTop += anchor.el.getBoundingClientRect().top - before;
    }
    this.below = this.distanceBelow(); // pages loaded on purpose are not news
  }

  distanceBelow() {
    const el = this.el;
    return el.scrollHeight - el.scrollTop - el.clientHeight;
  }

  nearBottom() {
    return this.distanceBelow() < NEAR_PX;
  }

  /** Whether new content should keep the reader at the bottom: they were there before it
   * came (content that grew since may already have pushed the bottom away). */
  stuck() {
    return this.pinned || this.nearBottom();
  }

  scrollToBottom() {
    this.el.scrollTop = this.el.scrollHeight;
    this.autoTop = this.el.scrollTop;
    this.pinned = true;
    this.below = 0;
  }

  showJump() {
    this.jump.hidden = false;
    this.jump.textContent = this.unseen > 0 ? `${this.unseen} new ↓`
      : this.atLatest ? 'New below ↓' : 'Latest ↓';
  }

  /** Something shown grew, or the view changed size. */
  onResize() {
    if (!this.el.isConnected) return;
    if (this.pinned && this.atLatest) {
      this.scrollToBottom();
      return;
    }
    const below = this.distanceBelow();
    if (below > this.below + 1 && this.atLatest) this.showJump();
    this.below = below;
  }

  onScroll() {
    // The scroll event of our own scroll to the bottom can arrive after the content grew
    // again; it says nothing about where the reader wants to be.
    if (this.autoTop === null || Math.abs(this.el.scrollTop - this.autoTop) >= 1) {
      this.autoTop = null;
      this.pinned = this.nearBottom();
    }
    this.below = this.distanceBelow();
    if (this.atLatest && this.pinned) {
      this.unseen = 0;
      this.jump.hidden = true;
    }
    if (!this.atLatest && this.jump.hidden) this.showJump();
    this.onChange();
    this.checkEdges();
  }

  /** Load the next page when the reader is near an edge (or the page does not fill). */
  checkEdges() {
    if (this.loading || !this.el.isConnected) return;
    const el = this.el;
    if (el.scrollTop < EDGE_PX && !this.reachedStart) this.loadOlder();
    else if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX && !this.atLatest) {
      this.loadNewer();
    }
  }
}
