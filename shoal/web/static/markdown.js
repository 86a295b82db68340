// Markdown to DOM nodes, safely: every piece of text becomes a text node and every element is
// built by hand, so nothing in a message is ever parsed as HTML or run as script. Links are
// kept only for http, https and mailto, and open with rel=noopener.
//
// Chat-sized markdown: paragraphs (a single newline is a line break), headings, fenced code,
// block quotes, lists, rules; inline code, bold, italic, strike, links, bare URLs, @mentions.

import { h } from './dom.js';

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
const FENCE = /^\s*(```|~~~)\s*([\w+-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s*>\s?(.*)$/;
const ITEM = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/;
// Emphasis spans are bounded in length so that unmatched markers stay linear to scan.
const INLINE = new RegExp([
  /\\([\\`*_{}[\]()#+\-.!~@>|])/.source, // 1: an escaped character
  /`([^`\n]+)`/.source, // 2: code
  /\*\*(?=\S)([^\n]{0,2000}?\S)\*\*/.source, // 3: bold
  /(?<![A-Za-z0-9_])__(?=\S)([^\n]{0,2000}?\S)__(?![A-Za-z0-9_])/.source, // 4: bold
  /\*(?=[^\s*])([^\n*]{0,2000}?[^\s*])\*/.source, // 5: italic
  /(?<![A-Za-z0-9_])_(?=[^\s_])([^\n_]{0,2000}?[^\s_])_(?![A-Za-z0-9_])/.source, // 6: italic
  /~~(?=\S)([^\n]{0,2000}?\S)~~/.source, // 7: strike
  /\[([^\]\n]{1,1000})\]\(\s*<?([^()\s<>]{1,2000})>?\s*\)/.source, // 8, 9: a link
  /((?:https?:\/\/|mailto:)[^\s<>"]*[^\s<>"().,;:!?'\]])/.source, // 10: a bare URL
  /(?<![A-Za-z0-9_-])@([A-Za-z0-9_-]{1,64})(?![A-Za-z0-9_-])/.source, // 11: a mention
].join('|'), 'g');

/** The URL if it is absolute http(s) or mailto, else null. */
export function safeUrl(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

/** A link that opens outside the app and gives the target no handle on this page. */
export function externalLink(href, ...children) {
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, ...children);
}

/**
 * Render markdown into a fragment. `options.me` is the reader's handle(s): their mentions
 * are marked. `options.onMention(handle)` makes mentions clickable.
 */
export function renderMarkdown(text, options = {}) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  blocks(lines, fragment, options);
  return fragment;
}

function blocks(lines, parent, options) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i += 1;
    } else if ((m = FENCE.exec(line))) {
      const body = [];
      i += 1;
      while (i < lines.length && !(lines[i].trim().startsWith(m[1]) && FENCE.test(lines[i]))) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end)
      parent.append(h('pre', { class: 'md-code' },
        h('code', { 'data-lang': m[2] || null }, body.join('\n'))));
    } else if ((m = HEADING.exec(line))) {
      parent.append(h(`h${m[1].length}`, { class: 'md-heading' }, inline(m[2], options)));
      i += 1;
    } else if (RULE.test(line)) {
      parent.append(h('hr'));
      i += 1;
    } else if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        quoted.push(m[1]);
        i += 1;
      }
      const quote = h('blockquote');
      blocks(quoted, quote, options);
      parent.append(quote);
    } else if (ITEM.test(line)) {
      const ordered = /\d/.test(ITEM.exec(line)[1]);
      const list = h(ordered ? 'ol' : 'ul');
      if (ordered) {
        const start = parseInt(ITEM.exec(line)[1], 10);
        if (start !== 1) list.setAttribute('start', String(start));
      }
      while (i < lines.length && (m = ITEM.exec(lines[i])) && /\d/.test(m[1]) === ordered) {
        const item = h('li', null, inline(m[2], options));
        i += 1;
        // Indented lines continue the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !ITEM.test(lines[i])) {
          item.append(h('br'), ...inline(lines[i].trim(), options));
          i += 1;
        }
        list.append(item);
      }
      parent.append(list);
    } else {
      const paragraph = h('p');
      let first = true;
      while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) {
        if (!first) paragraph.append(h('br'));
        paragraph.append(...inline(lines[i], options));
        first = false;
        i += 1;
      }
      parent.append(paragraph);
    }
  }
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line)
    || ITEM.test(line);
}

/** Inline markdown of one line as a list of nodes. */
export function inline(text, options = {}) {
  const nodes = [];
  let last = 0;
  INLINE.lastIndex = 0;
  const matches = [...text.matchAll(INLINE)];
  for (const m of matches) {
    if (m.index > last) nodes.push(document.createTextNode(text.slice(last, m.index)));
    nodes.push(inlineNode(m, options));
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function inlineNode(m, options) {
  if (m[1] !== undefined) return document.createTextNode(m[1]);
  if (m[2] !== undefined) return h('code', null, m[2]);
  if (m[3] !== undefined || m[4] !== undefined) {
    return h('strong', null, inline(m[3] ?? m[4], options));
  }
  if (m[5] !== undefined || m[6] !== undefined) return h('em', null, inline(m[5] ?? m[6], options));
  if (m[7] !== undefined) return h('del', null, inline(m[7], options));
  if (m[8] !== undefined) {
    const href = safeUrl(m[9]);
    const label = inline(m[8], { ...options, noLinks: true });
    // An unsafe link (javascript:, data:, relative) keeps its text and loses the link.
    if (!href || options.noLinks) return h('span', null, label);
    return externalLink(href, label);
  }
  if (m[10] !== undefined) {
    const href = safeUrl(m[10]);
    if (!href || options.noLinks) return document.createTextNode(m[10]);
    return externalLink(href, m[10]);
  }
  const handle = m[11];
  const key = handle.toLowerCase();
  const mine = (options.me || []).some((own) => own && own.toLowerCase() === key);
  return h('span', {
    class: mine ? 'mention me' : 'mention',
    dataset: { handle },
    onclick: options.onMention ? () => options.onMention(handle) : null,
  }, `@${handle}`);
}
