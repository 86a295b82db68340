// The room's members: presence, role and kind; a member opens a DM or a mention.

import { h, replace } from '../dom.js';
import { avatar, emojiBadge } from '../faces.js';

export class MembersPanel {
  constructor({ me, onMessage, onMention, extra = null }) {
    this.me = me;
    this.extra = extra; // shown below the members (the room's sub-agents)
    this.onMessage = onMessage;
    this.onMention = onMention;
    this.members = [];
    this.el = h('aside', { class: 'members', 'aria-label': 'Members' });
  }

  set(members) {
    this.members = members;
    this.render();
  }

  presence(userId, online) {
    const member = this.members.find((m) => m.id === userId);
    if (member) {
      member.online = online;
      this.render();
    }
  }

  byHandle(handle) {
    const key = handle.toLowerCase();
    return this.members.find((m) => (m.handle || '').toLowerCase() === key
      || m.username.toLowerCase() === key) || null;
  }

  render() {
    const sorted = [...this.members].sort((a, b) => (b.online - a.online)
      || (a.display_name || '').localeCompare(b.display_name || ''));
    const online = sorted.filter((m) => m.online).length;
    replace(this.el,
      h('h3', null, `Members · ${this.members.length}`,
        h('span', { class: 'muted small' }, ` (${online} online)`)),
      h('ul', { class: 'member-list' }, sorted.map((m) => this.item(m))), this.extra);
  }

  item(member) {
    const mine = member.id === this.me.id;
    return h('li', { class: `member${member.online ? ' online' : ''}`,
      dataset: { userId: member.id } },
      h('span', { class: 'presence', title: member.online ? 'online' : 'offline',
        'aria-label': member.online ? 'online' : 'offline' }),
      avatar(member.avatar_url, member.username),
      h('span', { class: 'member-name', title: `@${member.handle || member.username}` },
        member.display_name || member.username, emojiBadge(member.emoji),
        h('span', { class: 'handle' }, ` @${member.handle || member.username}`)),
      h('span', { class: 'member-badges' },
        member.type === 'agent' ? h('span', { class: 'badge bot' }, 'bot') : null,
        h('span', { class: `badge role role-${member.role}` }, member.role)),
      h('span', { class: 'member-actions' },
        h('button', { type: 'button', class: 'link', title: 'Mention',
          onclick: () => this.onMention(member.handle || member.username) }, 'Mention'),
        mine ? null : h('button', { type: 'button', class: 'link dm', title: 'Direct message',
          onclick: () => this.onMessage(member) }, 'Message')));
  }
}
