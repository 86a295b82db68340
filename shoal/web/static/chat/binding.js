// The room header's binding: which agent answers every message here unmentioned, and for
// room admins a control to bind the room to one of the house's agents or to unbind it.

import { api } from '../api.js';
import { h, replace } from '../dom.js';

export class BindingControl {
  /** `onChange(room)` gets the room view the server answers after a change. */
  constructor({ room, canBind, onChange }) {
    this.room = room;
    this.canBind = canBind;
    this.onChange = onChange;
    this.el = h('div', { class: 'room-binding' });
    this.render();
  }

  set(room) {
    this.room = room;
    this.render();
  }

  render() {
    const bound = this.room.binding;
    replace(this.el,
      bound ? h('span', { class: 'binding-label', title:
        `@${bound.handle} answers every message here without being mentioned` },
      'Bound to ', h('strong', null, `@${bound.handle}`)) : null,
      this.canBind ? h('button', { type: 'button', class: 'ghost small bind',
        onclick: () => this.openForm() }, bound ? 'Change agent' : 'Bind agent') : null,
      this.canBind && bound ? h('button', { type: 'button', class: 'ghost small unbind',
        onclick: () => this.save(null) }, 'Unbind') : null);
  }

  async openForm() {
    const error = h('span', { class: 'form-error small', role: 'alert' });
    let agents;
    try {
      const members = await api('GET', `/api/houses/${this.room.house_id}/members`);
      agents = members.filter((m) => m.type === 'agent');
    } catch (err) {
      replace(error, err.message);
      replace(this.el, error);
      return;
    }
    const select = h('select', { name: 'agent', 'aria-label': 'Agent to bind this room to' },
      agents.map((a) => h('option', { value: a.id, selected: a.id === this.room.binding?.id },
        `@${a.handle}`)));
    const form = h('form', { class: 'binding-form', onsubmit: (e) => {
      e.preventDefault();
      this.save(select.value, error);
    } },
    agents.length ? select : h('span', { class: 'muted small' }, 'This house has no agents.'),
    agents.length ? h('button', { type: 'submit', class: 'primary small' }, 'Bind') : null,
    h('button', { type: 'button', class: 'ghost small', onclick: () => this.render() },
      'Cancel'),
    error);
    replace(this.el, form);
    select.focus();
  }

  async save(agent, error = null) {
    try {
      const room = await api('PUT', `/api/agencies/${this.room.id}/binding`, { agent });
      this.onChange(room);
    } catch (err) {
      if (error) replace(error, err.message);
      else alert(err.message);
    }
  }
}
