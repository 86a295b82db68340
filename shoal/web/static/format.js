// Small formatting helpers shared by the screens.

const THEME_TOKENS = {
  'theme-accent': 'var(--accent)',
  'theme-muted': 'var(--muted)',
  'theme-success': 'var(--success)',
  'theme-warning': 'var(--warning)',
  'theme-error': 'var(--error)',
  'theme-primary': 'var(--primary)',
};
const HEX = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;

/** A CSS color for a theme token or a hex color; null for anything else (never raw CSS). */
export function cssColor(value) {
  if (typeof value !== 'string') return null;
  const token = value.trim().toLowerCase();
  if (token in THEME_TOKENS) return THEME_TOKENS[token];
  return HEX.test(token) ? token : null;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
});

/** "14:05" today, "Mar 3, 14:05" before. */
export function shortTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const today = new Date().toDateString() === date.toDateString();
  return (today ? timeFormat : dayFormat).format(date);
}

export function fullTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString();
}

// Times on the management pages are in the open house's time zone (its `timezone`).
let houseZone = 'UTC';

/** Use this time zone (an IANA name) for the times below; an unknown one means UTC. */
export function useTimeZone(zone) {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    houseZone = zone || 'UTC';
  } catch {
    houseZone = 'UTC';
  }
}

export function timeZone() {
  return houseZone;
}

function parts(date, options) {
  const format = new Intl.DateTimeFormat('en-GB', { timeZone: houseZone, ...options });
  return Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
}

/** An ISO time as people read it, in the house's zone: "Thu 3 Dec, 17:29", with the year
 * when it is not this year's (the server's answers write times the same way). */
export function readableTime(iso) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return iso || '—';
  const p = parts(date, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const year = p.year !== parts(new Date(), { year: 'numeric' }).year ? ` ${p.year}` : '';
  return `${p.weekday} ${p.day} ${p.month}${year}, ${p.hour}:${p.minute}`;
}

/** An ISO time relative to now: "3 min ago", "in 2 h". */
export function relativeTime(iso) {
  if (!iso) return '—';
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (Number.isNaN(seconds)) return iso;
  const size = Math.abs(seconds);
  if (size < 5) return 'just now'; // also hides small clock differences with the server
  const [value, unit] = size < 60 ? [size, 's'] : size < 3600 ? [Math.round(size / 60), 'min']
    : size < 86400 ? [Math.round(size / 3600), 'h'] : [Math.round(size / 86400), 'd'];
  return seconds < 0 ? `${value} ${unit} ago` : `in ${value} ${unit}`;
}

/** Milliseconds as "850ms", "4.2s", "3m 05s", "1h 02m". */
export function duration(ms) {
  if (typeof ms === 'string') return ms;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Any JSON value as readable text (strings as they are). */
export function pretty(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** Metadata as an object (the contract allows a JSON string). */
export function metadataOf(message) {
  const meta = message?.metadata;
  if (meta && typeof meta === 'object') return meta;
  if (typeof meta === 'string') {
    try {
      const parsed = JSON.parse(meta);
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch {
      return {};
    }
  }
  return {};
}

const RANK = { guest: 0, member: 1, admin: 2, owner: 3 };

/** Whether a house role is at least `least`. */
export function atLeast(role, least) {
  return (RANK[role] ?? -1) >= RANK[least];
}
