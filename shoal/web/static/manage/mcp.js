// House settings: the MCP servers whose tools the house's agents use. Owners add, turn on or
// off and remove them; header values are write-only (only their names come back).
import { h } from '../dom.js';
import {
  actionButton, badge, confirmButton, empty, field, form, load, section, select, statusLine,
  table,
} from './common.js';

const STATES = { ready: 'ok', error: 'error', unknown: 'pending' };

/** Headers typed one per line as `Name: value`. */
function parseHeaders(text) {
  const headers = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf(':');
    if (at < 1) throw new Error(`Write each header as Name: value (not "${line.slice(0, 40)}").`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

function stateCell(server) {
  if (!server.enabled) return badge('off', 'muted');
  return h('span', null, badge(server.state, STATES[server.state] || 'muted'),
    server.error ? h('div', { class: 'm-small-text' }, server.error) : null);
}

/** MCP servers: name, address, state, tools, and the owners' controls. */
export function mcpSection({ ctx, houseId, isOwner }, id) {
  const card = section(id, 'MCP servers', 'Tool servers reached over the Model Context '
    + 'Protocol. Their tools are offered to the house\'s agents as <server>__<tool>; people '
    + 'call them with /mcp <server> <tool> {json}.');
  if (!isOwner) {
    card.body.append(empty('Only house owners can see and change these.'));
    return { el: card.el, ready: Promise.resolve() };
  }
  const path = `/api/houses/${houseId}/mcp-servers`;
  const list = h('div');
  const status = statusLine();
  const refresh = () => load(list, () => ctx.api('GET', path), (servers) => {
    list.append(servers.length ? table(['Server', 'Address', 'State', 'Tools', 'Headers', ''],
      servers.map((s) => [
        h('strong', null, s.name),
        s.source === 'operator' ? h('span', { class: 'm-muted' }, 'from the server\'s configuration')
          : h('code', null, s.url),
        stateCell(s),
        s.tools.length ? s.tools.join(', ') : '—',
        s.header_names.length ? s.header_names.join(', ') : '—',
        s.source === 'operator' ? '' : h('span', { class: 'm-row-actions' },
          actionButton(s.enabled ? 'Turn off' : 'Turn on', async () => {
            await ctx.api('PATCH', `${path}/${encodeURIComponent(s.id)}`, { enabled: !s.enabled });
            refresh();
          }, { status }),
          confirmButton('Remove', `Remove ${s.name}?`, async () => {
            await ctx.api('DELETE', `${path}/${encodeURIComponent(s.id)}`);
            refresh();
          }, { danger: true, status })),
      ]), { 'aria-label': 'MCP servers' }) : empty('No MCP servers yet.'), status.el);
  });
  const name = h('input', { name: 'mcp_name', maxlength: 32, placeholder: 'github', required: true });
  const url = h('input', { name: 'mcp_url', type: 'url', required: true,
    placeholder: 'https://mcp.example.com/mcp' });
  const transport = select([['', 'Guess'], ['streamable_http', 'Streamable HTTP'],
    ['sse', 'SSE (older servers)']], '', { name: 'mcp_transport' });
  const headers = h('textarea', { name: 'mcp_headers', rows: 2, autocomplete: 'off',
    placeholder: 'Authorization: Bearer …  (one per line; stored encrypted, never shown again)' });
  const { el } = form({ 'aria-label': 'New MCP server' }, [
    h('div', { class: 'm-grid' }, field('Name', name), field('URL', url),
      field('Transport', transport)),
    field('Headers', headers)],
  async (formEl, formStatus) => {
    const body = { name: name.value.trim(), url: url.value.trim(),
      headers: parseHeaders(headers.value) };
    if (transport.value) body.transport = transport.value;
    const r = await ctx.api('POST', path, body);
    if (r.state === 'ready') formStatus.ok(`Added ${r.name}: ${r.tools.length} tools.`);
    else formStatus.error(`Added ${r.name}, but it cannot be reached: ${r.error}`);
    formEl.reset();
    refresh();
  }, 'Add server');
  card.body.append(list, h('details', { class: 'm-disclosure' },
    h('summary', null, 'New MCP server'), el));
  return { el: card.el, ready: refresh() };
}
