// The app: a router from paths to screens, and the signed-in shell around them.

import { api, ApiError, currentUser, getToken, setToken } from './api.js';
import { authScreen } from './auth.js';
import { h, replace } from './dom.js';
import { Shell } from './shell.js';

const root = document.getElementById('app');
let shell = null;

// Paths and the screens they show; `params` are the path's captured ids.
const ROUTES = [
  [/^\/rooms\/([^/]+)\/?$/, (pane, [roomId]) => import('./chat/room.js')
    .then((m) => m.mountRoom(pane, shell, roomId))],
  [/^\/search\/?$/, (pane) => import('./chat/search.js').then((m) => m.mountSearch(pane, shell))],
  [/^\/runs\/([^/]+)\/?$/, (pane, [runId]) => import('./runs/transcript.js')
    .then((m) => m.mountTranscript(pane, shell, runId))],
  [/^\/house\/([^/]+)\/agents\/?$/, (pane, [houseId]) => manage('agents', pane, { houseId })],
  [/^\/house\/([^/]+)\/agents\/([^/]+)\/?$/, (pane, [houseId, botId]) =>
    manage('bot', pane, { houseId, botId })],
  [/^\/house\/([^/]+)\/settings\/?$/, (pane, [houseId]) => manage('settings', pane, { houseId })],
];

/** Go to a path inside the app (pushes history unless `replace`). */
export function navigate(path, { replace: replacing = false } = {}) {
  if (path !== location.pathname + location.search) {
    history[replacing ? 'replaceState' : 'pushState'](null, '', path);
  }
  route();
}

async function manage(name, pane, params) {
  const house = shell.workspace.house(params.houseId);
  if (house) shell.workspace.setHouse(house.id);
  const module = await import(`./manage/${name}.js`);
  const ctx = { api, user: shell.workspace.user, params, navigate };
  const cleanup = await module.mount(pane, ctx);
  return typeof cleanup === 'function' ? { destroy: cleanup } : cleanup;
}

function signOut() {
  shell?.destroy();
  shell = null;
  setToken(null);
  navigate('/login');
}

// One route at a time: a navigation during a slow one waits for it (never two shells).
let routing = Promise.resolve();
function route() {
  routing = routing.then(showRoute, showRoute);
  return routing;
}

async function showRoute() {
  const path = location.pathname;
  if (path === '/login' || path === '/register') {
    if (getToken()) {
      navigate('/', { replace: true });
      return;
    }
    shell?.destroy();
    shell = null;
    authScreen(root, path.slice(1), { done: () => navigate('/', { replace: true }) });
    return;
  }
  if (!getToken()) {
    navigate('/login', { replace: true });
    return;
  }
  if (!shell) {
    let user;
    try {
      user = await currentUser();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) signOut();
      else showFatal(err);
      return;
    }
    shell = new Shell(root, user, { navigate, signOut });
    await shell.start();
  }
  const found = ROUTES.map(([pattern, screen]) => [pattern.exec(path), screen])
    .find(([match]) => match);
  if (!found) {
    const room = homeRoom();
    if (room && path === '/') navigate(`/rooms/${room}`, { replace: true });
    else shell.show((pane) => replace(pane, notFound(path)));
    return;
  }
  const [match, screen] = found;
  await shell.show(async (pane) => {
    try {
      return await screen(pane, match.slice(1).map(decodeURIComponent));
    } catch (err) {
      replace(pane, h('div', { class: 'page-error' }, h('h2', null, 'This page could not open'),
        h('p', null, err instanceof ApiError ? err.message : String(err.message || err))));
      return null;
    }
  });
}

/** The room `/` opens: the last one visited, else the lobby of the default house. */
function homeRoom() {
  const ws = shell.workspace;
  const last = localStorage.getItem('shoal.lastRoom');
  if (last && ws.rooms.has(last)) return last;
  const house = ws.currentHouse();
  const rooms = house ? ws.roomsOf(house.id) : [...ws.rooms.values()];
  return (rooms.find((r) => r.slug === 'lobby') || rooms[0])?.id || null;
}

function notFound(path) {
  return h('div', { class: 'page-error' }, h('h2', null, 'Nothing here'),
    h('p', null, `There is no page at ${path}. `, h('a', { href: '/' }, 'Go home')));
}

function showFatal(err) {
  replace(root, h('div', { class: 'page-error' }, h('h2', null, 'Shoal cannot start'),
    h('p', null, err.message || String(err)),
    h('button', { type: 'button', onclick: () => location.reload() }, 'Try again')));
}

// Same-origin links move inside the app instead of reloading it.
document.addEventListener('click', (event) => {
  const link = event.target.closest?.('a[href]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
      || event.shiftKey || link.target === '_blank' || link.hasAttribute('download')) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || /^\/(api|docs|static|socket\.io)\b/.test(url.pathname)) {
    return;
  }
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', route);
window.addEventListener('shoal:unauthorized', () => { if (shell) signOut(); });
route();
