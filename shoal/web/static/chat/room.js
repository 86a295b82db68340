// A room: its header, timeline, composer and members.
import { api } from '../api.js';
import { h, replace } from '../dom.js';

export async function mountRoom(pane, shell, roomId) {
  const room = await api('GET', `/api/agencies/${roomId}`);
  shell.workspace.setOpenRoom(roomId);
  replace(pane, h('section', { class: 'room' }, h('header', { class: 'room-header' },
    h('h2', null, `# ${room.name}`))));
  return { destroy: () => shell.workspace.setOpenRoom(null) };
}
