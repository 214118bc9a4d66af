import type { Broker } from "../broker/broker";
import { StoredMessage } from "../broker/message";
import { Allocator } from "../platform";
import { InFlight, Queued, Session } from "./session";

/**
 * Retained messages and persistent sessions as one binary string, written
 * whole and checked whole: a magic, the body length, the body, and a
 * checksum. A torn or damaged file fails the check and is ignored at boot, so
 * the broker comes back with the old state or the new one, never half of one.
 */
const MAGIC = "EMQ1";
const REC_RETAINED = 82; // "R"
const REC_SESSION = 83; // "S"

function u16(n: number): string {
  return String.fromCharCode(Math.floor(n / 256) % 256, n % 256);
}

function u32(n: number): string {
  return String.fromCharCode(
    Math.floor(n / 16777216) % 256, Math.floor(n / 65536) % 256, Math.floor(n / 256) % 256, n % 256,
  );
}

function str(s: string): string {
  return u16(s.length) + s;
}

function bytesOf(msg: StoredMessage, from: number, len: number): string {
  let s = "";
  let piece = "";
  for (let i = 0; i < len; i++) {
    piece += String.fromCharCode(msg.data[from + i]);
    if (piece.length === 64) {
      s += piece;
      piece = "";
    }
  }
  return s + piece;
}

function message(msg: StoredMessage): string {
  return u16(msg.topicLen) + bytesOf(msg, 0, msg.topicLen) + u32(msg.payloadLen) +
    bytesOf(msg, msg.topicLen, msg.payloadLen) + String.fromCharCode(msg.qos);
}

/** Adler-style sum, integer arithmetic only. */
function checksum(s: string): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < s.length; i++) {
    a = (a + s.charCodeAt(i)) % 65521;
    b = (b + a) % 65521;
  }
  return b * 65536 + a;
}

export function serializeState(b: Broker): string {
  let body = "";
  let retained = b.retained.list;
  for (let i = 0; i < retained.length; i++) body += String.fromCharCode(REC_RETAINED) + message(retained[i]);
  let sessions = b.sessions.all();
  for (let k = 0; k < sessions.length; k++) {
    let s = sessions[k];
    if (s.clean) continue;
    let rec = String.fromCharCode(REC_SESSION) + str(s.clientId) + u16(s.nextPacketId) + u16(s.filters.length);
    for (let f = 0; f < s.filters.length; f++) rec += str(s.filters[f]) + String.fromCharCode(s.filterQos[f]);
    rec += u16(s.inflight.length);
    for (let j = 0; j < s.inflight.length; j++) {
      let fl = s.inflight[j];
      rec += u16(fl.packetId) + String.fromCharCode(fl.qos, fl.state, fl.retain ? 1 : 0) + message(fl.msg);
    }
    rec += u16(s.queue.length);
    for (let q = 0; q < s.queue.length; q++) {
      let qu = s.queue[q];
      rec += String.fromCharCode(qu.qos, qu.retain ? 1 : 0) + message(qu.msg);
    }
    rec += u16(s.incomingQos2.length);
    for (let r = 0; r < s.incomingQos2.length; r++) rec += u16(s.incomingQos2[r]);
    body += rec;
  }
  return MAGIC + u32(body.length) + body + u32(checksum(body));
}

/** Reads the body written by serializeState; every read is bounds-checked. */
class Cursor {
  s: string;
  p: number;
  end: number;
  bad = false;
  constructor(s: string, p: number, end: number) {
    this.s = s;
    this.p = p;
    this.end = end;
  }
  byte(): number {
    if (this.p >= this.end) {
      this.bad = true;
      return 0;
    }
    return this.s.charCodeAt(this.p++);
  }
  u16(): number {
    return this.byte() * 256 + this.byte();
  }
  u32(): number {
    return this.u16() * 65536 + this.u16();
  }
  take(n: number): string {
    if (this.p + n > this.end) {
      this.bad = true;
      return "";
    }
    let out = this.s.substring(this.p, this.p + n);
    this.p += n;
    return out;
  }
  message(alloc: Allocator, retain: boolean): StoredMessage {
    let topic = this.take(this.u16());
    let payload = this.take(this.u32());
    let qos = this.byte();
    let data = alloc.bytes(topic.length + payload.length);
    for (let i = 0; i < topic.length; i++) data[i] = topic.charCodeAt(i);
    for (let j = 0; j < payload.length; j++) data[topic.length + j] = payload.charCodeAt(j);
    return new StoredMessage(data, topic.length, payload.length, qos, retain);
  }
}

/** True when `data` is a whole, undamaged state file. */
export function validState(data: string): boolean {
  if (data.length < 12 || data.substring(0, 4) !== MAGIC) return false;
  let c = new Cursor(data, 4, 8);
  let len = c.u32();
  if (data.length !== 12 + len) return false;
  let sum = new Cursor(data, 8 + len, 12 + len).u32();
  return sum === checksum(data.substring(8, 8 + len));
}

/**
 * Load a state file into an empty broker. Returns false, changing nothing,
 * when the file is torn or damaged.
 */
export function restoreState(b: Broker, data: string): boolean {
  if (!validState(data)) return false;
  let len = new Cursor(data, 4, 8).u32();
  let c = new Cursor(data, 8, 8 + len);
  let alloc = b.platform.alloc;
  while (c.p < c.end && !c.bad) {
    let kind = c.byte();
    if (kind === REC_RETAINED) {
      let m = c.message(alloc, true);
      if (c.bad) break;
      let topic = "";
      for (let i = 0; i < m.topicLen; i++) topic += String.fromCharCode(m.data[i]);
      b.retained.set(topic, m);
    } else if (kind === REC_SESSION) {
      let s = restoreSession(b, c);
      if (s === undefined) break;
    } else {
      return false;
    }
  }
  return !c.bad;
}

function restoreSession(b: Broker, c: Cursor): Session | undefined {
  let alloc = b.platform.alloc;
  let id = c.take(c.u16());
  let s = b.sessions.create(id, false);
  s.nextPacketId = c.u16();
  if (s.nextPacketId === 0) s.nextPacketId = 1;
  let nf = c.u16();
  for (let f = 0; f < nf && !c.bad; f++) {
    let filter = c.take(c.u16());
    let qos = c.byte();
    if (b.topics.add(filter, s, qos) >= 0) {
      s.filters.push(filter);
      s.filterQos.push(qos);
    }
  }
  let ni = c.u16();
  for (let j = 0; j < ni && !c.bad; j++) {
    let pid = c.u16();
    let q = c.byte();
    let state = c.byte();
    let retain = c.byte() === 1;
    s.inflight.push(new InFlight(c.message(alloc, false), pid, q, retain, state));
  }
  let nq = c.u16();
  for (let k = 0; k < nq && !c.bad; k++) {
    let qq = c.byte();
    let rr = c.byte() === 1;
    s.queue.push(new Queued(c.message(alloc, false), qq, rr));
  }
  let n2 = c.u16();
  for (let r = 0; r < n2 && !c.bad; r++) s.incomingQos2.push(c.u16());
  if (c.bad) return undefined;
  b.sessions.detach(b, s);
  return s;
}
