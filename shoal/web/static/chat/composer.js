// The composer: Enter sends, Shift+Enter breaks the line; `@` completes handles and `/`
// completes commands (with their usage).

import { h, replace } from '../dom.js';

const MENTION_AT_CARET = /(^|[^A-Za-z0-9_-])@([A-Za-z0-9_-]*)$/;
const COMMAND_AT_CARET = /^\/([A-Za-z0-9_-]*)$/;
const MAX_SUGGESTIONS = 8;
// A phone's composer is too narrow for the hints: the placeholder would wrap and be cut off.
const NARROW = '(max-width: 760px)';

export class Composer {
  /** `members()` -> [{handle, username, display_name, type}], `commands()` -> [{name,
   * usage, description}], `send(text, attachments)` -> Promise (rejects with the reason to
   * show), `upload(file)` -> Promise of the stored attachment {id, name, size, ...}. */
  constructor({ members, commands, send, upload, disabledReason }) {
    this.members = members;
    this.commands = commands;
    this.send = send;
    this.upload = upload;
    this.pending = []; // {file, attachment?, promise, el}
    this.suggestions = [];
    this.active = 0;
    this.area = h('textarea', {
      class: 'composer-input', rows: 1, 'aria-label': 'Message', maxlength: 20000,
      placeholder: window.matchMedia(NARROW).matches ? 'Message…'
        : 'Message… (@ to mention, / for commands)',
      'aria-autocomplete': 'list', 'aria-controls': 'composer-suggestions',
    });
    this.menu = h('ul', { class: 'suggestions', id: 'composer-suggestions', role: 'listbox',
      hidden: true });
    this.error = h('div', { class: 'composer-error', role: 'alert', hidden: true });
    this.button = h('button', { type: 'submit', class: 'primary send' }, 'Send');
    this.picker = h('input', { type: 'file', class: 'file-input', multiple: true, hidden: true,
      onchange: () => {
        this.addFiles([...this.picker.files]);
        this.picker.value = '';
      } });
    this.attach = h('button', { type: 'button', class: 'ghost attach', title: 'Attach files',
      'aria-label': 'Attach files', onclick: () => this.picker.click() }, '📎');
    this.tray = h('div', { class: 'attach-tray', hidden: true });
    this.el = h('form', { class: 'composer' }, this.menu, this.error, this.tray,
      h('div', { class: 'composer-row' }, this.attach, this.picker, this.area, this.button));
    this.area.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files || [])];
      if (files.length) {
        e.preventDefault();
        this.addFiles(files);
      }
    });
    this.el.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.area.addEventListener('keydown', (e) => this.onKey(e));
    this.area.addEventListener('input', () => {
      this.grow();
      this.suggest();
    });
    this.area.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    if (disabledReason) this.disable(disabledReason);
  }

  /** Take files dropped anywhere on `zone` (the room). */
  watchDrops(zone) {
    zone.addEventListener('dragover', (e) => {
      if (this.area.disabled || !e.dataTransfer?.types?.includes('Files')) return;
      e.preventDefault();
      zone.classList.add('dropping');
    });
    zone.addEventListener('dragleave', (e) => {
      if (!zone.contains(e.relatedTarget)) zone.classList.remove('dropping');
    });
    zone.addEventListener('drop', (e) => {
      zone.classList.remove('dropping');
      const files = [...(e.dataTransfer?.files || [])];
      if (!files.length || this.area.disabled) return;
      e.preventDefault();
      this.addFiles(files);
    });
  }

  /** Upload files now; they go with the next message. */
  addFiles(files) {
    for (const file of files) {
      const item = { file };
      const remove = h('button', { type: 'button', class: 'link remove',
        'aria-label': `Remove ${file.name}`, onclick: () => this.dropPending(item) }, '×');
      const state = h('span', { class: 'attach-state muted' }, 'uploading…');
      item.el = h('span', { class: 'attach-chip', title: file.name },
        h('span', { class: 'attach-name' }, file.name || 'pasted file'), state, remove);
      item.promise = this.upload(file).then((attachment) => {
        item.attachment = attachment;
        state.textContent = humanSize(attachment.size);
        item.el.classList.add('ready');
      }, (err) => {
        item.failed = true;
        state.textContent = '';
        item.el.classList.add('failed');
        this.showError(`${file.name}: ${err.message || err}`);
      });
      this.pending.push(item);
      this.tray.append(item.el);
    }
    this.tray.hidden = !this.pending.length;
    this.area.focus();
  }

  dropPending(item) {
    this.pending = this.pending.filter((p) => p !== item);
    item.el.remove();
    this.tray.hidden = !this.pending.length;
  }

  disable(reason) {
    this.attach.disabled = true;
    this.area.disabled = true;
    this.button.disabled = true;
    this.area.placeholder = reason;
  }

  focus() {
    this.area.focus();
  }

  /** Put text at the caret (a mention from the members list, say). */
  insert(text) {
    const { selectionStart: start, selectionEnd: end, value } = this.area;
    const before = value.slice(0, start);
    const pad = before && !/\s$/.test(before) ? ' ' : '';
    this.area.value = `${before}${pad}${text}${value.slice(end)}`;
    const caret = before.length + pad.length + text.length;
    this.area.setSelectionRange(caret, caret);
    this.area.focus();
    this.grow();
  }

  grow() {
    this.area.style.height = 'auto';
    this.area.style.height = `${Math.min(this.area.scrollHeight, 240)}px`;
  }

  async submit() {
    const text = this.area.value.trim();
    if ((!text && !this.pending.length) || this.sending) return;
    this.sending = true;
    this.showError('');
    try {
      await Promise.all(this.pending.map((p) => p.promise));
      const ready = this.pending.filter((p) => p.attachment);
      if (!text && !ready.length) return;
      await this.send(text, ready.map((p) => p.attachment.id));
      for (const item of [...this.pending]) this.dropPending(item);
      this.area.value = '';
      this.grow();
      this.close();
    } catch (err) {
      this.showError(err.message || String(err));
    } finally {
      this.sending = false;
      this.area.focus();
    }
  }

  showError(text) {
    this.error.hidden = !text;
    this.error.textContent = text;
  }

  onKey(e) {
    if (!this.menu.hidden && this.suggestions.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        this.active = (this.active + step + this.suggestions.length) % this.suggestions.length;
        this.renderMenu();
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        this.accept(this.suggestions[this.active]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        this.close();
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    }
  }

  /** Look at the text before the caret and offer handles or commands. */
  suggest() {
    const before = this.area.value.slice(0, this.area.selectionStart);
    let m;
    if ((m = COMMAND_AT_CARET.exec(before))) {
      const prefix = m[1].toLowerCase();
      this.suggestions = this.commands()
        .filter((c) => c.name.toLowerCase().startsWith(prefix))
        .slice(0, MAX_SUGGESTIONS)
        .map((c) => ({ kind: 'command', insert: `/${c.name} `, replace: m[0], label: c.usage,
          detail: c.description }));
    } else if ((m = MENTION_AT_CARET.exec(before))) {
      const prefix = m[2].toLowerCase();
      this.suggestions = this.members()
        .filter((p) => [p.handle, p.username, p.display_name]
          .some((name) => (name || '').toLowerCase().startsWith(prefix)))
        .slice(0, MAX_SUGGESTIONS)
        .map((p) => ({ kind: 'mention', insert: `@${p.handle || p.username} `,
          replace: `@${m[2]}`, label: `@${p.handle || p.username}`,
          detail: `${p.display_name}${p.type === 'agent' ? ' · bot' : ''}` }));
    } else {
      this.suggestions = [];
    }
    this.active = 0;
    this.renderMenu();
  }

  accept(suggestion) {
    const caret = this.area.selectionStart;
    const before = this.area.value.slice(0, caret);
    const start = before.length - suggestion.replace.length;
    this.area.value = before.slice(0, start) + suggestion.insert + this.area.value.slice(caret);
    const at = start + suggestion.insert.length;
    this.area.setSelectionRange(at, at);
    this.close();
    this.area.focus();
  }

  close() {
    this.suggestions = [];
    this.menu.hidden = true;
  }

  renderMenu() {
    this.menu.hidden = !this.suggestions.length;
    replace(this.menu, this.suggestions.map((s, i) => h('li', {
      role: 'option', class: `suggestion ${s.kind}${i === this.active ? ' active' : ''}`,
      'aria-selected': i === this.active ? 'true' : 'false',
      onmousedown: (e) => {
        e.preventDefault(); // keep the focus in the textarea
        this.accept(s);
      },
    }, h('span', { class: 'suggestion-label' }, s.label),
    s.detail ? h('span', { class: 'suggestion-detail' }, s.detail) : null)));
  }
}

/** 1536 -> "1.5 KB". */
export function humanSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
