// The room's sub-agents beside its members: state, task, parent, age and tokens; refreshed
// when a run starts or ends in the room (a child's run is one).

import { api } from '../api.js';
import { h, replace } from '../dom.js';

const ENDED = new Set(['completed', 'failed', 'timed_out', 'killed']);

function age(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
  }
  return `${seconds}s`;
}

export class SubagentList {
  constructor({ roomId }) {
    this.roomId = roomId;
    this.children = [];
    this.el = h('section', { class: 'subagent-list', hidden: true, 'aria-label': 'Sub-agents' });
    this.loading = null;
  }

  /** Whether some child has not ended yet (as last fetched). */
  get live() {
    return this.children.some((c) => !ENDED.has(c.state));
  }

  /** Fetch the room's (unarchived) sub-agents; a failure keeps what is shown. Asked again
   * while fetching, it fetches once more afterwards. */
  async refresh() {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = api('GET', `/api/subagents?roomId=${encodeURIComponent(this.roomId)}`)
      .then((found) => { this.children = found; this.render(); })
      .catch(() => {})
      .finally(() => {
        this.loading = null;
        if (this.again) {
          this.again = false;
          this.refresh();
        }
      });
    return this.loading;
  }

  render() {
    this.el.hidden = this.children.length === 0;
    const running = this.children.filter((c) => !ENDED.has(c.state)).length;
    replace(this.el,
      h('h3', null, `Sub-agents · ${this.children.length}`,
        h('span', { class: 'muted small' }, ` (${running} running)`)),
      h('ul', null, this.children.map((c) => h('li', {
        class: `subagent state-${c.state}`, dataset: { subagentId: c.id } },
      h('span', { class: 'subagent-state' }, c.state.replace('_', ' ')),
      h('span', { class: 'subagent-task', title: c.task }, c.label || c.task),
      h('span', { class: 'muted small' },
        `${c.parent || ''} · ${age(c.created_at)} · ${c.input_tokens + c.output_tokens} tokens`)))));
  }
}
