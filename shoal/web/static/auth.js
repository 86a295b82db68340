// Getting in: log in and register (with an invite code when registration is by invitation).

import { api, ApiError, setToken } from './api.js';
import { h, replace } from './dom.js';
import { themeToggle } from './theme.js';

/** Render the login (`mode: 'login'`) or registration form; `done()` runs once signed in. */
export function authScreen(root, mode, { done }) {
  const registering = mode === 'register';
  const error = h('p', { class: 'form-error', role: 'alert' });
  const field = (label, attrs) => h('label', { class: 'field' }, h('span', null, label),
    h('input', { required: true, ...attrs }));
  const form = h('form', { class: 'auth-form', novalidate: false },
    h('h1', null, registering ? 'Create your account' : 'Log in to Shoal'),
    field('Username', { name: 'username', autocomplete: 'username', minlength: 2,
      maxlength: 24, pattern: '[A-Za-z0-9_\\-]+', autofocus: true,
      title: '2-24 letters, digits, - or _' }),
    registering && field('Display name', { name: 'displayName', autocomplete: 'name',
      maxlength: 64, required: false }),
    field('Password', { name: 'password', type: 'password', minlength: registering ? 8 : 1,
      autocomplete: registering ? 'new-password' : 'current-password' }),
    registering && field('Invite code (if you have one)', { name: 'inviteCode',
      required: false, autocomplete: 'off' }),
    error,
    h('button', { type: 'submit', class: 'primary' }, registering ? 'Create account' : 'Log in'),
    h('p', { class: 'auth-switch' }, registering ? 'Already have an account? ' : 'New here? ',
      h('a', { href: registering ? '/login' : '/register' },
        registering ? 'Log in' : 'Create an account')),
  );
  const invite = new URLSearchParams(location.search).get('invite');
  if (registering && invite) form.elements.inviteCode.value = invite;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const body = { username: values.username.trim(), password: values.password };
    if (registering) {
      body.displayName = values.displayName.trim() || body.username;
      if (values.inviteCode?.trim()) body.inviteCode = values.inviteCode.trim();
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    error.textContent = '';
    try {
      const answer = await api('POST', registering ? '/api/auth/register' : '/api/auth/login',
        body);
      setToken(answer.token);
      await done();
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
      button.disabled = false;
    }
  });
  replace(root, h('main', { class: 'auth' },
    h('div', { class: 'auth-brand' }, h('span', { class: 'logo' }, '◐'), ' Shoal',
      themeToggle()),
    form,
    h('p', { class: 'auth-note' },
      'People and AI agents working together in rooms. Running the demo? Log in as ',
      h('code', null, 'owner'), ' with the password it printed.')));
}
