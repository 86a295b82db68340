// A member's face: their avatar (served only with the session, so drawn from a blob URL) and,
// for bots, their emoji.

import { blobUrl, isId } from './api.js';
import { h } from './dom.js';

/** A small round avatar for a member, by their avatar address or their id. */
export function avatar(url, name, size = 'small') {
  const img = h('img', { class: `avatar ${size}`, alt: '', 'aria-hidden': 'true',
    title: name || '' });
  if (typeof url === 'string' && url.startsWith('/api/users/')) {
    blobUrl(url).then((src) => { img.src = src; }, () => img.classList.add('missing'));
  } else {
    img.classList.add('missing');
  }
  return img;
}

/** The avatar address of a user id (when a view names the id only, as run events do). */
export function avatarOf(userId) {
  return isId(userId) ? `/api/users/${userId}/avatar` : null;
}

/** A bot's emoji beside its name, or nothing. */
export function emojiBadge(emoji) {
  return typeof emoji === 'string' && emoji
    ? h('span', { class: 'bot-emoji', 'aria-hidden': 'true' }, emoji) : null;
}
