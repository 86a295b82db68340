// The signed-in frame: top bar, sidebar and the main pane that screens render into.

import { api, getToken, upload } from './api.js';
import { h, replace } from './dom.js';
import { Socket } from './socket.js';
import { avatar, avatarOf } from './faces.js';
import { themeToggle } from './theme.js';
import { Sidebar } from './chat/sidebar.js';
import { Workspace } from './chat/workspace.js';

export class Shell {
  /** `signOut()` is the app's: it drops the token, this shell, and shows the login. */
  constructor(root, user, { navigate, signOut }) {
    this.navigate = navigate;
    this.signOut = signOut;
    this.socket = new Socket(getToken);
    this.workspace = new Workspace(user, this.socket);
    this.sidebar = new Sidebar(this.workspace, navigate);
    this.main = h('main', { class: 'main', id: 'main' });
    this.status = h('span', { class: 'conn-status', role: 'status' });
    this.el = h('div', { class: 'shell', dataset: { sidebar: 'closed' } },
      h('header', { class: 'topbar' },
        h('button', {
          type: 'button', class: 'icon menu-toggle', 'aria-label': 'Show rooms',
          onclick: () => this.toggleSidebar(),
        }, '☰'),
        h('a', { href: '/', class: 'brand' }, h('span', { class: 'logo' }, '◐'), ' Shoal'),
        this.status,
        this.searchForm(),
        h('span', { class: 'spacer' }),
        themeToggle(),
        this.meButton(user),
        h('button', { type: 'button', class: 'ghost logout', onclick: () => this.logout() },
          'Log out'),
      ),
      h('div', { class: 'frame' },
        this.sidebar.el,
        h('div', { class: 'scrim', onclick: () => this.toggleSidebar(false) }),
        this.main),
    );
    this.workspace.addEventListener('connection', () => this.showConnection());
    // The server refuses a socket only for its token (revoked, expired): sign in again.
    this.socket.on('connect_error', () => this.signOut());
    this.view = null;
    replace(root, this.el);
  }

  /** The search box: its words open the search page. */
  searchForm() {
    this.searchInput = h('input', { type: 'search', name: 'q', placeholder: 'Search messages',
      'aria-label': 'Search messages', maxlength: 400 });
    return h('form', { class: 'search-box', role: 'search', onsubmit: (event) => {
      event.preventDefault();
      const q = this.searchInput.value.trim();
      if (q) this.navigate(`/search?q=${encodeURIComponent(q)}`);
    } }, this.searchInput);
  }

  setSearch(q) {
    this.searchInput.value = q;
  }

  /** Your name in the top bar, with your avatar: a click picks a new avatar image. */
  meButton(user) {
    const picker = h('input', { type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp',
      hidden: true, class: 'avatar-input' });
    const face = h('span', { class: 'me-face' }, avatar(avatarOf(user.id), user.username));
    picker.addEventListener('change', async () => {
      const file = picker.files[0];
      picker.value = '';
      if (!file) return;
      try {
        const { avatar_url: url } = await upload('/api/me/avatar', file, 'PUT');
        replace(face, avatar(url, user.username));
      } catch (err) {
        alert(err.message);
      }
    });
    return h('button', { type: 'button', class: 'ghost me', title: `@${user.username}: change your avatar`,
      onclick: () => picker.click() }, face, ' ', user.display_name, picker);
  }

  async start() {
    this.socket.connect();
    await this.workspace.reload({ fresh: false });
    this.showConnection();
  }

  showConnection() {
    const online = this.workspace.online;
    this.status.textContent = online ? '' : 'reconnecting…';
    this.status.classList.toggle('offline', !online);
  }

  toggleSidebar(open) {
    const next = open ?? this.el.dataset.sidebar !== 'open';
    this.el.dataset.sidebar = next ? 'open' : 'closed';
  }

  /** Replace the main pane with a new screen (an object with an optional `destroy`). */
  async show(factory) {
    this.toggleSidebar(false);
    this.view?.destroy?.();
    this.view = null;
    const pane = h('div', { class: 'pane' });
    replace(this.main, pane);
    this.view = (await factory(pane)) || null;
  }

  async logout() {
    try {
      await api('POST', '/api/auth/logout');
    } catch {
      // Logged out already, or offline: forget the token anyway.
    }
    this.signOut();
  }

  destroy() {
    this.view?.destroy?.();
    this.sidebar.destroy();
    this.workspace.destroy();
    this.socket.close();
  }
}
