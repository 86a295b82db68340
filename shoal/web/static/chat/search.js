// Search for people: every room the reader can read, newest matches first with the matched
// words marked, then (on the first page) messages that match by meaning. A result opens its
// room at that message, with the history around it loaded.

import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { readableTime } from '../format.js';

const LIMIT = 20;

export async function mountSearch(pane, shell) {
  const q = new URLSearchParams(location.search).get('q') || '';
  shell.setSearch?.(q);
  const list = h('ol', { class: 'search-results' });
  const more = h('button', { type: 'button', class: 'ghost', hidden: true }, 'More results');
  const status = h('p', { class: 'muted', role: 'status' });
  replace(pane, h('section', { class: 'search-page' },
    h('h2', null, q ? `Search: ${q}` : 'Search'), status, list, more));
  if (!q.trim()) {
    status.textContent = 'Type words in the search box above.';
    return null;
  }
  let before = null;
  const load = async () => {
    more.disabled = true;
    const params = new URLSearchParams({ q, limit: String(LIMIT) });
    if (before) params.set('before', before);
    try {
      const page = await api('GET', `/api/search?${params}`);
      for (const result of page.results) list.append(resultItem(result));
      before = page.nextBefore;
      more.hidden = !before;
      status.textContent = list.children.length ? '' : `Nothing matches “${q}”.`;
    } catch (err) {
      status.textContent = err instanceof ApiError ? err.message : String(err);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', load);
  await load();
  return null;
}

function resultItem(result) {
  const href = `/rooms/${encodeURIComponent(result.roomId)}?msg=${encodeURIComponent(
    result.messageId)}&seq=${result.seq}`;
  return h('li', { class: 'search-result', dataset: { messageId: result.messageId } },
    h('a', { href },
      h('span', { class: 'search-where' }, `# ${result.roomName || 'room'}`, ' · ',
        result.sender || 'someone', ' · ', readableTime(result.createdAt),
        result.match === 'meaning' ? h('span', { class: 'badge' }, 'by meaning') : null),
      h('span', { class: 'search-snippet' }, marked(result.snippet, result.highlights))));
}

/** The snippet as text nodes with the matched words in <mark> (never parsed as HTML). */
function marked(snippet, highlights) {
  const parts = [];
  let at = 0;
  for (const [start, end] of highlights || []) {
    if (start < at) continue;
    parts.push(snippet.slice(at, start), h('mark', null, snippet.slice(start, end)));
    at = end;
  }
  parts.push(snippet.slice(at));
  return parts;
}
