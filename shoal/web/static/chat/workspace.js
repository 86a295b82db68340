// What the signed-in person's app knows: houses, rooms, DMs, unread counts and the socket.
// Every room the person is a member of is joined on the socket, so unread counts move live
// and others see them present; the open room also replays what it missed on reconnect.

import { api, currentUser, refreshUser } from '../api.js';


export class Workspace extends EventTarget {
  constructor(user, socket) {
    super();
    this.user = user;
    this.socket = socket;
    this.houses = user.houses || [];
    this.rooms = new Map(); // id -> room view (DMs included, with `dm` and `peer`)
    this.lastSeq = new Map(); // id -> newest seq known
    this.read = loadRead(user.id);
    this.openRoomId = null;
    this.online = false;
    this.loaded = false; // the first reload finished
    this.offs = [
      socket.on('connect', () => this.onConnect()),
      socket.on('disconnect', () => this.setOnline(false)),
      socket.on('message', (m) => this.onMessage(m)),
      socket.on('agency-invited', () => this.reload()),
      socket.on('agency-updated', (room) => this.onRoomUpdated(room)),
    ];
  }

  destroy() {
    this.offs.forEach((off) => off());
  }

  /** Load houses, rooms and DMs (`fresh`: ask for the user's houses again too). */
  async reload({ fresh = true } = {}) {
    const [me, rooms, dms] = await Promise.all([
      fresh ? refreshUser() : currentUser(), api('GET', '/api/agencies'), api('GET', '/api/dm'),
    ]);
    this.user = me;
    this.houses = me.houses || [];
    const before = new Set(this.rooms.keys());
    this.rooms.clear();
    for (const room of rooms) this.rooms.set(room.id, room);
    for (const { agency, user } of dms) this.rooms.set(agency.id, { ...agency, peer: user });
    const firstLoad = !this.loaded;
    this.loaded = true;
    for (const room of this.rooms.values()) {
      this.noteSeq(room.id, room.last_seq || 0);
      // Rooms known when the app starts begin read (only news counts); a room that turns
      // up later (an invite, a new DM) is unread from its start.
      if (!(room.id in this.read)) this.read[room.id] = firstLoad ? room.last_seq || 0 : 0;
    }
    saveRead(this.user.id, this.read);
    if (this.socket.connected) {
      for (const room of this.rooms.values()) {
        if (!before.has(room.id) && this.isMember(room)) this.joinQuietly(room.id);
      }
    }
    this.changed();
  }

  isMember(room) {
    return room.isMember !== false;
  }

  house(id) {
    return this.houses.find((house) => house.id === id) || null;
  }

  /** The house a path is about, else the last one used, else the default. */
  currentHouse() {
    const open = this.rooms.get(this.openRoomId);
    const id = open?.house_id || localStorage.getItem('shoal.house');
    return this.house(id) || this.houses.find((house) => house.is_default) || this.houses[0]
      || null;
  }

  setHouse(id) {
    localStorage.setItem('shoal.house', id);
    this.changed();
  }

  roomsOf(houseId) {
    return [...this.rooms.values()].filter((r) => r.house_id === houseId && !r.dm);
  }

  dmsOf(houseId) {
    return [...this.rooms.values()].filter((r) => r.house_id === houseId && r.dm);
  }

  unread(roomId) {
    if (roomId === this.openRoomId) return 0;
    return Math.max(0, (this.lastSeq.get(roomId) || 0) - (this.read[roomId] || 0));
  }

  noteSeq(roomId, seq) {
    if (typeof seq === 'number' && seq > (this.lastSeq.get(roomId) || 0)) {
      this.lastSeq.set(roomId, seq);
    }
  }

  markRead(roomId, seq) {
    if (typeof seq === 'number' && seq > (this.read[roomId] || 0)) {
      this.read[roomId] = seq;
      saveRead(this.user.id, this.read);
      this.changed();
    }
  }

  setOpenRoom(roomId) {
    this.openRoomId = roomId;
    if (roomId) {
      const room = this.rooms.get(roomId);
      if (room) localStorage.setItem('shoal.house', room.house_id);
      localStorage.setItem('shoal.lastRoom', roomId);
    }
    this.changed();
  }

  onMessage(message) {
    const roomId = message.agencyId || message.agency_id;
    if (typeof message.seq !== 'number') return;
    this.noteSeq(roomId, message.seq);
    // One's own messages are read by definition.
    if (message.sender_id === this.user.id) this.markRead(roomId, message.seq);
    if (roomId !== this.openRoomId) this.changed();
  }

  onRoomUpdated(room) {
    const known = this.rooms.get(room.id);
    if (known) this.rooms.set(room.id, { ...known, ...room });
    this.changed();
  }

  async onConnect() {
    this.setOnline(true);
    // Join every member room except the open one, which joins itself with its lastSeq.
    await Promise.all([...this.rooms.values()]
      .filter((room) => this.isMember(room) && room.id !== this.openRoomId)
      .map((room) => this.joinQuietly(room.id)));
  }

  async joinQuietly(roomId) {
    try {
      const ack = await this.socket.call('join-agency', { agencyId: roomId });
      if (ack?.ok) this.noteSeq(roomId, ack.lastSeq);
      this.changed();
    } catch {
      // Disconnected meanwhile: the next connect joins again.
    }
  }

  setOnline(online) {
    this.online = online;
    this.dispatchEvent(new Event('connection'));
  }

  changed() {
    this.dispatchEvent(new Event('change'));
  }
}

// How far each room was read, per person (two people may share a browser).
function loadRead(userId) {
  try {
    return JSON.parse(localStorage.getItem(`shoal.read.${userId}`)) || {};
  } catch {
    return {};
  }
}

function saveRead(userId, read) {
  localStorage.setItem(`shoal.read.${userId}`, JSON.stringify(read));
}
