// Light and dark themes: the system's preference unless the person picked one.
import { h } from './dom.js';

const KEY = 'shoal.theme';
const dark = window.matchMedia('(prefers-color-scheme: dark)');

/** The theme in effect: 'light' or 'dark'. */
export function currentTheme() {
  return localStorage.getItem(KEY) || (dark.matches ? 'dark' : 'light');
}

export function applyTheme() {
  document.documentElement.dataset.theme = currentTheme();
}

/** A button that flips the theme (and remembers the choice). */
export function themeToggle() {
  const label = () => (currentTheme() === 'dark' ? '☀ Light' : '☾ Dark');
  const button = h('button', {
    type: 'button', class: 'ghost theme-toggle', title: 'Switch between light and dark',
    onclick: () => {
      localStorage.setItem(KEY, currentTheme() === 'dark' ? 'light' : 'dark');
      applyTheme();
      button.textContent = label();
    },
  }, label());
  return button;
}

dark.addEventListener('change', applyTheme);
applyTheme();
