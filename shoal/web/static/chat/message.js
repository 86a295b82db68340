// One message as the timeline shows it: author, time, markdown (or coloured spans), badges,
// a collapsible trace, and edit/delete for those allowed.

import { blobUrl, isId } from '../api.js';
import { h, replace } from '../dom.js';
import { avatar, emojiBadge } from '../faces.js';
import { cssColor, duration, fullTime, metadataOf, shortTime } from '../format.js';
import { renderMarkdown } from '../markdown.js';

const STEP_ICONS = { done: '✓', ok: '✓', error: '✗' };

/**
 * Build a message element. `ctx`: {me, canModerate, canPost, onEdit(message, content),
 * onDelete(message), onMention(handle), runLink(runId) -> node|null (null: not a run id)}.
 */
export function renderMessage(message, ctx) {
  const meta = metadataOf(message);
  const system = message.sender_type === 'system' || message.type === 'system';
  const classes = ['msg', `type-${message.type || 'chat'}`];
  if (system) classes.push('system');
  if (message.ephemeral) classes.push('ephemeral');
  if (message.sender_type === 'agent') classes.push('agent');
  if (message.sender_id === ctx.me.id) classes.push('mine');
  if (meta.heartbeat) classes.push('heartbeat');
  if (meta.hook) classes.push('hook');
  if (meta.error === true) classes.push('error');
  if (message.deleted) classes.push('deleted');
  if ((message.mentions || []).includes(ctx.me.id)) classes.push('mentions-me');

  const el = h('article', {
    class: classes.join(' '),
    dataset: { id: message.id, seq: message.seq ?? '' },
  });
  fill(el, message, meta, ctx);
  return el;
}

/** Re-render a message element in place (after an edit or a delete). */
export function updateMessage(el, message, ctx) {
  const fresh = renderMessage(message, ctx);
  el.className = fresh.className;
  replace(el, ...fresh.childNodes);
}

function fill(el, message, meta, ctx) {
  const style = meta.style && typeof meta.style === 'object' ? meta.style : {};
  const username = message.sender_username;
  const author = h('span', { class: 'author', title: username ? `@${username}` : '' },
    message.sender_display_name || username || 'unknown');
  const senderColor = cssColor(style.sender_color);
  if (senderColor) author.style.color = senderColor;

  const head = h('div', { class: 'msg-head' },
    message.sender_avatar_url ? avatar(message.sender_avatar_url, username) : null,
    author,
    emojiBadge(message.sender_emoji),
    message.sender_handle && message.sender_type !== 'system'
      ? h('span', { class: 'handle' }, `@${message.sender_handle}`) : null,
    message.sender_type === 'agent' ? h('span', { class: 'badge bot' }, 'bot') : null,
    typeof meta.skill === 'string' && meta.skill
      ? h('span', { class: 'badge skill' }, meta.skill) : null,
    meta.heartbeat
      ? h('span', { class: 'badge heartbeat', title: 'A scheduled heartbeat' }, '♥ heartbeat')
      : null,
    meta.hook ? h('span', { class: 'badge hook', title: 'Posted by an inbound hook' },
      `⇢ hook${meta.hook?.name ? `: ${meta.hook.name}` : ''}`) : null,
    message.ephemeral ? h('span', { class: 'badge ephemeral' }, 'only you can see this') : null,
    h('time', { datetime: message.created_at, title: fullTime(message.created_at) },
      shortTime(message.created_at)),
    message.edited_at && !message.deleted
      ? h('span', { class: 'edited', title: fullTime(message.edited_at) }, '(edited)') : null,
    actions(message, ctx),
  );

  const body = h('div', { class: 'msg-body' });
  if (message.deleted) {
    body.append(h('em', { class: 'muted' }, 'This message was deleted.'));
  } else if (Array.isArray(meta.content_spans) && meta.content_spans.length) {
    body.append(spans(meta.content_spans));
  } else if (message.content) {
    body.append(renderMarkdown(message.content, {
      me: ctx.me.handles, onMention: ctx.onMention,
    }));
  }
  body.classList.add('markdown');
  const contentColor = cssColor(style.content_color);
  if (contentColor) body.style.color = contentColor;

  replace(el, head, body,
    message.deleted ? null : attachments(message),
    !message.deleted && Array.isArray(meta.trace) && meta.trace.length ? trace(meta) : null,
    !message.deleted && meta.run_id && ctx.runLink
      ? ctx.runLink(meta.run_id) : null,
    reactions(message, ctx));
}

const INLINE = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** A message's files: images inline (click for the lightbox), other files as cards that
 * download on click. Files are read with the session, so they load through blob URLs. */
function attachments(message) {
  const list = (Array.isArray(message.attachments) ? message.attachments : [])
    .filter((a) => a && isId(a.id));
  if (!list.length) return null;
  const path = (a) => `/api/attachments/${a.id}`;
  return h('div', { class: 'attachments' }, list.map((a) => {
    if (INLINE.includes(a.content_type)) {
      const img = h('img', { class: 'attachment-image', alt: a.name, title: a.name,
        loading: 'lazy', dataset: { id: a.id } });
      blobUrl(path(a)).then((url) => { img.src = url; },
        () => { img.alt = `${a.name} (could not load)`; });
      return h('button', { type: 'button', class: 'attachment image',
        'aria-label': `Open ${a.name}`, onclick: () => openLightbox(img.src, a.name) }, img);
    }
    return h('button', { type: 'button', class: 'attachment file', dataset: { id: a.id },
      title: `Download ${a.name}`, onclick: async () => {
        const url = await blobUrl(path(a));
        const link = h('a', { href: url, download: a.name });
        document.body.append(link);
        link.click();
        link.remove();
      } },
    h('span', { class: 'file-icon', 'aria-hidden': 'true' }, '📄'),
    h('span', { class: 'file-name' }, a.name),
    h('span', { class: 'file-meta muted' }, `${a.content_type} · ${size(a.size)}`));
  }));
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The image full size over the page; a click or Escape closes it. */
function openLightbox(src, name) {
  if (!src) return;
  const close = () => {
    box.remove();
    document.removeEventListener('keydown', onKey);
  };
  const onKey = (e) => { if (e.key === 'Escape') close(); };
  const box = h('div', { class: 'lightbox', role: 'dialog', 'aria-label': name, onclick: close },
    h('img', { src, alt: name }),
    h('div', { class: 'lightbox-caption' }, name));
  document.addEventListener('keydown', onKey);
  document.body.append(box);
}

// The picker's choices; any emoji may come in from the API or an agent.
const PICKS = ['👍', '👎', '❤️', '😂', '🎉', '👀', '✅', '🙏', '🚀', '🤔', '😮', '🔥'];

/** The reactions under a message: a chip per emoji with its count (yours highlighted; a
 * click adds or takes back yours) and a button opening the picker. */
function reactions(message, ctx) {
  const list = Array.isArray(message.reactions) ? message.reactions : [];
  if (message.deleted || message.ephemeral || !message.seq) return null;
  if (!list.length && !ctx.onReact) return null;
  const mineOf = (r) => (r.users || []).some((u) => u.id === ctx.me.id);
  const chips = list.map((r) => {
    const who = (r.users || []).map((u) => u.display_name || u.username).join(', ');
    const mine = mineOf(r);
    return h('button', {
      type: 'button', class: `reaction${mine ? ' mine' : ''}`, title: who,
      dataset: { emoji: r.emoji }, 'aria-pressed': String(mine),
      'aria-label': `${r.emoji} ${r.count}: ${who}`,
      onclick: () => ctx.onReact?.(message, r.emoji, !mine),
    }, h('span', { class: 'reaction-emoji' }, r.emoji),
    h('span', { class: 'reaction-count' }, String(r.count)));
  });
  const row = h('div', { class: `reactions${list.length ? '' : ' empty'}` }, chips);
  if (ctx.onReact) {
    const picker = h('div', { class: 'reaction-picker', hidden: true, role: 'menu' },
      PICKS.map((emoji) => h('button', {
        type: 'button', class: 'pick', role: 'menuitem', dataset: { emoji },
        onclick: () => {
          picker.hidden = true;
          const known = list.find((r) => r.emoji === emoji);
          ctx.onReact(message, emoji, !(known && mineOf(known)));
        },
      }, emoji)));
    row.append(h('button', {
      type: 'button', class: 'reaction add-reaction', title: 'Add a reaction',
      'aria-label': 'Add a reaction', onclick: () => { picker.hidden = !picker.hidden; },
    }, '☺+'), picker);
  }
  return row;
}

function spans(list) {
  const p = h('p', { class: 'spans' });
  for (const span of list) {
    if (!span || typeof span.text !== 'string') continue;
    const part = h('span', null, span.text);
    const color = cssColor(span.color);
    if (color) part.style.color = color;
    p.append(part);
  }
  return p;
}

function trace(meta) {
  const steps = meta.trace.filter((s) => s && typeof s === 'object');
  const failed = steps.some((s) => s.status === 'error');
  return h('details', { class: `trace${failed ? ' failed' : ''}` },
    h('summary', null, `Trace · ${steps.length} step${steps.length === 1 ? '' : 's'}`,
      typeof meta.duration === 'string' ? ` · ${meta.duration}` : '',
      failed ? ' · failed' : ''),
    h('ol', { class: 'trace-steps' }, steps.map((s) => h('li', { class: `step status-${s.status}` },
      h('span', { class: 'step-icon', 'aria-label': s.status }, STEP_ICONS[s.status] || '•'),
      h('code', null, String(s.step ?? '')),
      h('span', { class: 'step-duration' }, duration(s.duration))))));
}

function actions(message, ctx) {
  if (message.deleted || message.ephemeral || message.sender_type === 'system' || !message.seq) {
    return null;
  }
  const own = message.sender_id === ctx.me.id && ctx.canPost;
  if (!own && !ctx.canModerate) return null;
  // A phone has no hover: there a ⋯ button opens the actions (style.css).
  const more = h('button', { type: 'button', class: 'icon msg-more', 'aria-expanded': 'false',
    'aria-label': 'Message actions', onclick: () => {
      const open = more.closest('.msg').classList.toggle('actions-open');
      more.setAttribute('aria-expanded', String(open));
    } }, '⋯');
  return h('span', { class: 'msg-actions' }, more,
    h('span', { class: 'msg-action-list' },
      h('button', { type: 'button', class: 'link edit',
        onclick: (e) => startEdit(e, message, ctx) }, 'Edit'),
      h('button', {
        type: 'button', class: 'link delete',
        onclick: () => { if (confirm('Delete this message?')) ctx.onDelete(message); },
      }, 'Delete')));
}

function startEdit(event, message, ctx) {
  const el = event.target.closest('.msg');
  const body = el.querySelector('.msg-body');
  const error = h('p', { class: 'form-error small' });
  const area = h('textarea', { class: 'edit-area', rows: 3, 'aria-label': 'Edit message' });
  area.value = message.content;
  const cancel = () => updateMessage(el, message, ctx);
  const save = async () => {
    const content = area.value.trim();
    if (!content || content === message.content) return cancel();
    try {
      await ctx.onEdit(message, content);
    } catch (err) {
      error.textContent = err.message || String(err);
    }
    return null;
  };
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') cancel();
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      save();
    }
  });
  replace(body, area, h('div', { class: 'edit-buttons' },
    h('button', { type: 'button', class: 'primary small', onclick: save }, 'Save'),
    h('button', { type: 'button', class: 'small', onclick: cancel }, 'Cancel'), error));
  area.focus();
}
