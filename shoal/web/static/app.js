// The shell: routes paths to screens. (Screens arrive in the next commits.)
import { h, replace } from './dom.js';

replace(document.getElementById('app'), h('p', { class: 'loading' }, 'Shoal'));
