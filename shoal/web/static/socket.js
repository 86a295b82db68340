// A small Socket.IO client over WebSocket only (Engine.IO v4, Socket.IO v5 packets):
// `0{...}` open, `2`/`3` ping/pong, `40{auth}` connect, `42[event,data]` an event,
// `42<id>[...]` an event that wants an ack, `43<id>[...]` an ack.
// It reconnects by itself with backoff; listeners of 'connect' rejoin what they need.

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const ACK_TIMEOUT_MS = 15000;

export class SocketClosed extends Error {}

export class Socket {
  /** `getToken()` is read at every (re)connect, so a new login is picked up. */
  constructor(getToken, url = defaultUrl()) {
    this.getToken = getToken;
    this.url = url;
    this.listeners = new Map();
    this.acks = new Map();
    this.nextAck = 0;
    this.connected = false;
    this.closed = false;
    this.attempt = 0;
    this.ws = null;
    this.pingTimer = null;
    this.retryTimer = null;
    this.onOnline = () => { if (!this.connected) this.retryNow(); };
    window.addEventListener('online', this.onOnline);
  }

  /** Listen to an event; returns a function that stops listening. Besides the server's
   * events there are 'connect', 'disconnect' and 'connect_error' ({message}). */
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event)?.delete(fn);
  }

  fire(event, data) {
    for (const fn of [...(this.listeners.get(event) || [])]) {
      try {
        fn(data);
      } catch (err) {
        console.error(`socket listener for ${event} failed`, err);
      }
    }
  }

  connect() {
    this.closed = false;
    if (!this.ws) this.open();
  }

  open() {
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.onclose = this.ws.onmessage = this.ws.onerror = null;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = (e) => this.receive(String(e.data));
    ws.onclose = () => this.lost();
    ws.onerror = () => {};  // onclose follows and handles it
  }

  receive(text) {
    const type = text[0];
    if (type === '0') {
      const open = JSON.parse(text.slice(1));
      this.pingWindow = open.pingInterval + open.pingTimeout;
      this.watchPings();
      this.send(`40${JSON.stringify({ token: this.getToken() })}`);
    } else if (type === '2') {
      this.watchPings();
      this.send('3');
    } else if (type === '1') {
      this.ws?.close();
    } else if (type === '4') {
      this.packet(text.slice(1));
    }
  }

  packet(text) {
    const kind = text[0];
    const body = text.slice(1);
    if (kind === '0') {
      this.connected = true;
      this.attempt = 0;
      this.fire('connect');
    } else if (kind === '4') {
      // Refused: a bad or revoked token. Reconnecting cannot help.
      const error = safeJson(body) || {};
      this.closed = true;
      this.fire('connect_error', { message: error.message || 'connection refused' });
      this.ws?.close();
    } else if (kind === '1') {
      this.ws?.close();
    } else if (kind === '2' || kind === '3') {
      const start = body.indexOf('[');
      const id = start > 0 ? Number(body.slice(0, start)) : null;
      const args = safeJson(body.slice(start)) || [];
      if (kind === '3') {
        const pending = this.acks.get(id);
        if (pending) {
          this.acks.delete(id);
          clearTimeout(pending.timer);
          pending.resolve(args[0]);
        }
      } else {
        this.fire(args[0], args[1]);
      }
    }
  }

  watchPings() {
    clearTimeout(this.pingTimer);
    // No ping within the server's window: the connection is dead even if TCP says not.
    this.pingTimer = setTimeout(() => this.ws?.close(), this.pingWindow + 1000);
  }

  send(text) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  /** Send an event without waiting for an answer. */
  emit(event, data) {
    if (!this.connected) return false;
    this.send(`42${JSON.stringify([event, data])}`);
    return true;
  }

  /** Send an event and resolve with the server's ack (rejects when disconnected). */
  call(event, data, timeoutMs = ACK_TIMEOUT_MS) {
    if (!this.connected) return Promise.reject(new SocketClosed('not connected'));
    const id = this.nextAck++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        reject(new SocketClosed(`${event}: no answer in time`));
      }, timeoutMs);
      this.acks.set(id, { resolve, reject, timer });
      this.send(`42${id}${JSON.stringify([event, data])}`);
    });
  }

  lost() {
    clearTimeout(this.pingTimer);
    const was = this.connected;
    this.connected = false;
    this.ws = null;
    for (const { reject, timer } of this.acks.values()) {
      clearTimeout(timer);
      reject(new SocketClosed('connection lost'));
    }
    this.acks.clear();
    if (was) this.fire('disconnect');
    if (this.closed) return;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.open(), base + Math.random() * base * 0.3);
  }

  retryNow() {
    if (this.closed || this.ws) return;
    this.open();
  }

  /** Close for good (logout). */
  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    window.removeEventListener('online', this.onOnline);
    if (this.ws) {
      this.send('41');
      this.ws.close();
    }
  }
}

function defaultUrl() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/socket.io/?EIO=4&transport=websocket`;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
