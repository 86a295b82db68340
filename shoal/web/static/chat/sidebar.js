// The sidebar: the house, its rooms and DMs with unread counts, a new-room form, and links
// to the house's agents and settings.

import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';

export class Sidebar {
  constructor(workspace, navigate) {
    this.ws = workspace;
    this.navigate = navigate;
    this.formEl = null;
    this.el = h('nav', { class: 'sidebar', 'aria-label': 'Rooms' });
    this.render = this.render.bind(this);
    workspace.addEventListener('change', this.render);
    this.render();
  }

  destroy() {
    this.ws.removeEventListener('change', this.render);
  }

  render() {
    if (!this.ws.loaded) {
      // Nothing to pick before the rooms are known: a choice now would find no room.
      replace(this.el, h('p', { class: 'muted pad' }, 'Loading rooms…'));
      return;
    }
    this.el.dataset.loaded = 'true';
    const house = this.ws.currentHouse();
    if (!house) {
      replace(this.el, h('p', { class: 'muted pad' }, 'You are not in any house yet.'));
      return;
    }
    const rooms = this.ws.roomsOf(house.id);
    const dms = this.ws.dmsOf(house.id);
    replace(this.el,
      this.houseSwitcher(house),
      h('div', { class: 'side-section' },
        h('div', { class: 'side-heading' }, h('span', null, 'Rooms'),
          house.role !== 'guest' && h('button', {
            type: 'button', class: 'icon', title: 'New room', 'aria-label': 'New room',
            onclick: () => { this.formEl = this.formEl ? null : this.newRoomForm(house);
              this.render(); },
          }, '+')),
        // Kept across renders: a message arriving elsewhere must not wipe what is typed.
        this.formEl,
        h('ul', { class: 'room-list' }, rooms.map((room) => this.roomItem(room, `# ${room.name}`))),
      ),
      h('div', { class: 'side-section' },
        h('div', { class: 'side-heading' }, h('span', null, 'Direct messages')),
        dms.length ? h('ul', { class: 'room-list' },
          dms.map((room) => this.roomItem(room, `@ ${room.peer?.display_name || room.name}`)))
          : h('p', { class: 'muted small pad' }, 'Open a member from a room to message them.'),
      ),
      h('div', { class: 'side-section side-links' },
        h('a', { href: `/house/${house.id}/agents`, class: 'side-link' }, 'Agents'),
        h('a', { href: `/house/${house.id}/settings`, class: 'side-link' }, 'Settings'),
      ),
    );
  }

  houseSwitcher(house) {
    if (this.ws.houses.length < 2) {
      return h('div', { class: 'house-name', title: house.description || '' }, house.name,
        h('span', { class: 'role-badge' }, house.role));
    }
    const select = h('select', {
      class: 'house-switch', 'aria-label': 'House',
      onchange: () => {
        this.ws.setHouse(select.value);
        const first = this.ws.roomsOf(select.value)[0];
        if (first) this.navigate(`/rooms/${first.id}`);
      },
    }, this.ws.houses.map((item) => h('option', { value: item.id, selected: item.id === house.id },
      `${item.name} (${item.role})`)));
    return h('div', { class: 'house-name' }, select);
  }

  roomItem(room, label) {
    const unread = this.ws.unread(room.id);
    const active = room.id === this.ws.openRoomId;
    return h('li', null, h('a', {
      href: `/rooms/${room.id}`,
      class: ['room-link', active && 'active', unread && 'unread',
        !this.ws.isMember(room) && 'not-member'].filter(Boolean).join(' '),
      'aria-current': active ? 'page' : null,
      dataset: { roomId: room.id },
    }, h('span', { class: 'room-name' }, label, room.is_private && !room.dm ? ' 🔒' : ''),
    unread ? h('span', { class: 'unread-count', 'aria-label': `${unread} unread` },
      unread > 99 ? '99+' : String(unread)) : null));
  }

  newRoomForm(house) {
    const error = h('p', { class: 'form-error small' });
    const form = h('form', { class: 'new-room' },
      h('input', { name: 'name', placeholder: 'room name', required: true, maxlength: 64,
        'aria-label': 'Room name', autofocus: true }),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'isPrivate' }),
        ' private'),
      h('button', { type: 'submit', class: 'primary small' }, 'Create'),
      error);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const room = await api('POST', '/api/agencies', {
          name: form.elements.name.value.trim(),
          isPrivate: form.elements.isPrivate.checked,
          houseId: house.id,
        });
        this.formEl = null;
        await this.ws.reload();
        this.navigate(`/rooms/${room.id}`);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
      }
    });
    queueMicrotask(() => form.elements.name.focus());
    return form;
  }
}
