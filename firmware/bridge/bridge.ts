import {
  CONNACK, ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK,
} from "../codec/constants";
import {
  encodeAck, encodeConnect, encodeDisconnect, encodePingreq, encodePublishString, encodeSubscribe, publishSize,
} from "../codec/encode";
import { PacketReader, PacketSink } from "../codec/reader";
import type { Broker } from "../broker/broker";
import { retainMessage, routePublish } from "../broker/deliver";
import { Bytes, Link } from "../platform";
import { filterMatchesBytes, filterMatchesString } from "../topics/match";

import { BRIDGE_IN, BRIDGE_OUT, BridgeConfig } from "./types";
import { text } from "../codec/text";

/**
 * A bridge: this broker as a client of another (mosquitto's bridge.c). It
 * is fed by the broker's routing (Broker.bridgeOut, called by routePublish
 * only when a bridge is configured), queues what matches its `out` topics
 * while the remote is away (bounded by the profile's maxBridgeQueued and
 * maxBridgeQueuedBytes), and keeps the QoS 1/2 ones in an append-only
 * journal in Storage before the local publisher's PUBACK when persistence
 * is on, so what was acknowledged survives a power cut. What its `in`
 * topics bring from the remote is published locally and never sent back
 * out over the bridge it came from (try_private tells the remote the same).
 *
 * All of it is cold code: loaded only when a bridge is configured.
 */

const IDLE = 0;
const OPENING = 1;
const AWAIT_CONNACK = 2;
const UP = 3;

/** Message states: waiting to be sent, then the QoS 1/2 handshakes. */
const WAITING = 0;
const AWAIT_PUBACK = 1;
const AWAIT_PUBREC = 2;
const AWAIT_PUBCOMP = 3;

/** Packet ids: messages take 1..PID_SPAN (from their sequence number), the others are reserved. */
const PID_SPAN = 65533;
const PID_SUBSCRIBE = 65534;
const PID_NOTIFY = 65535;
const SEQ_WRAP = 16000000;

const J_ADD = 65; // "A"
const J_DONE = 68; // "D"

/** A message for the remote. Topic and payload as binary strings. */
export interface BridgeMsg {
  seq: number;
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  state: number;
  /** Resent (after a reconnect or a restart): DUP set. */
  dup: boolean;
  /** Written to the journal. */
  durable: boolean;
}

/** Counters, printed by the tests and published nowhere else (mosquitto has none either). */
export interface BridgeStats {
  /** Messages handed to the bridge for the remote. */
  queued: number;
  /** PUBLISH packets written to the remote (resends included). */
  sent: number;
  /** Acknowledged by the remote (QoS 0: written). */
  delivered: number;
  /** Not kept: QoS 0 while the remote is away, or the queue full. */
  dropped: number;
  /** Messages received from the remote and published here. */
  received: number;
  /** Restored from the journal at start. */
  restored: number;
  connects: number;
}

export class Bridge implements PacketSink {
  b: Broker;
  cfg: BridgeConfig;
  index: number;
  state = IDLE;
  link: Link | undefined = undefined;
  reader: PacketReader;
  /** Not yet acknowledged by the remote, in order: in flight first (state > WAITING), then waiting. */
  msgs: BridgeMsg[] = [];
  bytes = 0;
  nextSeq = 1;
  incomingQos2: number[] = [];
  retryAt = 0;
  restartMs: number;
  addr = 0;
  openedAt = 0;
  lastSent = 0;
  lastReceived = 0;
  pingAt = -1;
  privateOk = true;
  /** The notification state published locally last (-1: none yet). */
  notified = -1;
  journal: string | undefined = undefined;
  journalBytes = 0;
  stats: BridgeStats = { queued: 0, sent: 0, delivered: 0, dropped: 0, received: 0, restored: 0, connects: 0 };
  stopped = false;

  constructor(b: Broker, cfg: BridgeConfig, index: number) {
    this.b = b;
    this.cfg = cfg;
    this.index = index;
    this.restartMs = cfg.restartBaseMs;
    const p = b.profile;
    this.reader = new PacketReader(b.platform.alloc, p.maxPacketSize, 256, p.readerKeepBytes < 256 ? 256 : p.readerKeepBytes);
  }

  /** What is queued or in flight. */
  count(): number {
    return this.msgs.length;
  }

  // ---- the local side ----

  /** A message the broker routed: queue it for the remote if an `out` topic matches. */
  out(src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number, qos: number, retain: boolean): void {
    const topics = this.cfg.topics;
    for (let i = 0; i < topics.length; i++) {
      const t = topics[i];
      if (t.direction === BRIDGE_IN) continue;
      const filter = t.localPrefix + t.pattern;
      if (!filterMatchesBytes(filter, src, topicOff, topicLen)) continue;
      const local = text.str(src, topicOff, topicLen);
      const remote = t.remotePrefix + local.substring(t.localPrefix.length);
      this.enqueue(remote, text.str(src, payloadOff, payloadLen), qos < t.qos ? qos : t.qos, retain);
      return;
    }
  }

  enqueue(topic: string, payload: string, qos: number, retain: boolean): void {
    const p = this.b.profile;
    // as mosquitto: QoS 0 for a bridge that is not connected is not kept
    if (qos === 0 && this.state !== UP) {
      this.stats.dropped++;
      return;
    }
    const size = topic.length + payload.length;
    const maxCount = p.maxBridgeQueued !== undefined ? p.maxBridgeQueued : p.maxQueued;
    const maxBytes = p.maxBridgeQueuedBytes !== undefined ? p.maxBridgeQueuedBytes : p.maxRetainedBytes;
    // full: the oldest waiting QoS 0 goes first; with none, the new message is dropped (mosquitto)
    while (this.msgs.length + 1 > maxCount || this.bytes + size > maxBytes) {
      let at = -1;
      for (let i = 0; i < this.msgs.length; i++) {
        if (this.msgs[i].qos === 0 && this.msgs[i].state === WAITING) {
          at = i;
          break;
        }
      }
      if (at < 0) {
        this.stats.dropped++;
        this.b.stats.publishDropped++;
        return;
      }
      this.bytes -= this.msgs[at].topic.length + this.msgs[at].payload.length;
      this.msgs.splice(at, 1);
      this.stats.dropped++;
    }
    const m: BridgeMsg = { seq: this.nextSeq, topic: topic, payload: payload, qos: qos, retain: retain, state: WAITING, dup: false, durable: false };
    this.nextSeq = this.nextSeq >= SEQ_WRAP ? 1 : this.nextSeq + 1;
    // durable before the local publisher's PUBACK: that is sent after routing returns
    if (qos > 0 && this.journal !== undefined) {
      m.durable = this.append(journalAdd(m));
    }
    this.msgs.push(m);
    this.bytes += size;
    this.stats.queued++;
    this.pump();
  }

  /** A message from the remote: published here as if a local client had sent it, but never back out over this bridge. */
  publishLocal(topic: string, payload: string, qos: number, retain: boolean): void {
    const b = this.b;
    const tl = topic.length;
    const buf = b.platform.alloc.bytes(tl + payload.length);
    for (let i = 0; i < tl; i++) buf[i] = topic.charCodeAt(i);
    for (let j = 0; j < payload.length; j++) buf[tl + j] = payload.charCodeAt(j);
    if (retain && b.config.retainAvailable) retainMessage(b, buf, 0, tl, tl, payload.length, qos, undefined);
    const before = b.bridgeFrom;
    b.bridgeFrom = this;
    b.bridgeRetain = retain;
    routePublish(b, buf, 0, tl, tl, payload.length, qos, undefined, undefined, undefined);
    b.bridgeFrom = before;
  }

  notifyLocal(up: number): void {
    if (!this.cfg.notifications || this.notified === up) return;
    this.notified = up;
    this.publishLocal(this.cfg.notificationTopic, up === 1 ? "1" : "0", 1, true);
  }

  // ---- the journal ----

  append(rec: string): boolean {
    const st = this.b.platform.storage;
    if (st === undefined || st.append === undefined || this.journal === undefined) return false;
    const ok = st.append(this.journal, rec);
    if (ok) this.journalBytes += rec.length;
    return ok;
  }

  /** Delivered: a D record, and the journal compacted when nothing durable is left or it grew large. */
  done(m: BridgeMsg): void {
    if (!m.durable || this.journal === undefined) return;
    const st = this.b.platform.storage;
    if (st === undefined) return;
    let left = 0;
    for (let i = 0; i < this.msgs.length; i++) if (this.msgs[i].durable) left++;
    if (left === 0) {
      st.erase(this.journal);
      this.journalBytes = 0;
      return;
    }
    const p = this.b.profile;
    const maxBytes = p.maxBridgeQueuedBytes !== undefined ? p.maxBridgeQueuedBytes : p.maxRetainedBytes;
    if (this.journalBytes > 2 * maxBytes + 1024) {
      let all = "";
      for (let k = 0; k < this.msgs.length; k++) if (this.msgs[k].durable) all += journalAdd(this.msgs[k]);
      if (st.write(this.journal, all)) this.journalBytes = all.length;
      return;
    }
    this.append(journalDone(m.seq));
  }

  // ---- the remote side ----

  send(len: number): void {
    if (this.link === undefined) return;
    this.lastSent = this.b.platform.now();
    this.link.send(this.b.tx, 0, len);
  }

  sendMsg(m: BridgeMsg): void {
    const b = this.b;
    const pid = m.seq % PID_SPAN + 1;
    const len = encodePublishString(b.txFor(publishSize(m.topic.length, m.payload.length, m.qos)), 0, m.topic, m.payload, m.qos, m.retain, m.dup, pid);
    this.stats.sent++;
    this.send(len);
  }

  /** Send what waits while the window (maxInflight) and the link's send queue allow. */
  pump(): void {
    if (this.state !== UP || this.link === undefined) return;
    const p = this.b.profile;
    let flying = 0;
    for (let i = 0; i < this.msgs.length; i++) {
      const m = this.msgs[i];
      if (m.state !== WAITING) {
        flying++;
        continue;
      }
      if (flying >= p.maxInflight || this.link.queued() > p.maxSendQueueBytes) return;
      this.sendMsg(m);
      if (m.qos === 0) {
        this.msgs.splice(i, 1);
        i--;
        this.bytes -= m.topic.length + m.payload.length;
        this.stats.delivered++;
      } else {
        m.state = m.qos === 1 ? AWAIT_PUBACK : AWAIT_PUBREC;
        flying++;
      }
    }
  }

  /** Once per broker tick: connect when due, keepalive, what waited for room. */
  tick(): void {
    if (this.stopped) return;
    const now = this.b.platform.now();
    if (this.state === IDLE) {
      if (now >= this.retryAt) this.open();
      return;
    }
    if (this.state !== UP) {
      if (now - this.openedAt > this.b.profile.connectTimeoutMs) this.drop();
      return;
    }
    const ka = this.cfg.keepalive * 1000;
    if (this.pingAt >= 0 && now - this.pingAt > ka) {
      this.drop(); // no PINGRESP within a keepalive period
      return;
    }
    if (ka > 0 && this.pingAt < 0 && now - this.lastSent >= ka) {
      this.pingAt = now;
      this.send(encodePingreq(this.b.tx, 0));
    }
    this.pump();
  }

  open(): void {
    const b = this.b;
    const connect = b.platform.connect;
    this.state = OPENING;
    this.openedAt = b.platform.now();
    this.reader = new PacketReader(b.platform.alloc, b.profile.maxPacketSize, 256, b.profile.readerKeepBytes < 256 ? 256 : b.profile.readerKeepBytes);
    const a = this.cfg.addresses[this.addr];
    b.log("bridge " + this.cfg.name + ": connecting to " + a.host + ":" + a.port);
    const self = this;
    let link: Link | undefined = undefined;
    if (connect !== undefined) {
      link = connect(a.host, a.port, this.cfg.name, {
        opened: () => {
          if (self.link === link) self.opened();
        },
        data: (buf: Bytes, off: number, len: number) => {
          if (self.link !== link) return;
          self.lastReceived = b.platform.now();
          const err = self.reader.feed(buf, off, len, self);
          if (err !== ERR_NONE && self.link === link) self.drop();
        },
        closed: () => {
          if (self.link === link) self.lost();
        },
      });
    }
    if (link === undefined) {
      this.lost();
      return;
    }
    this.link = link;
  }

  opened(): void {
    const c = this.cfg;
    const b = this.b;
    this.state = AWAIT_CONNACK;
    const will = c.notifications ? c.notificationTopic : undefined;
    const size = 64 + c.clientId.length + (will !== undefined ? will.length : 0) +
      (c.username !== undefined ? c.username.length : 0) + (c.password !== undefined ? c.password.length : 0);
    const len = encodeConnect(b.txFor(size), 0, {
      protocolName: "MQTT", protocolLevel: c.tryPrivate && this.privateOk ? 0x84 : 4, clientId: c.clientId,
      cleanSession: c.cleanSession, keepalive: c.keepalive, username: c.username, password: c.password,
      willTopic: will, willMessage: "0", willQos: 1, willRetain: true,
    });
    this.send(len);
  }

  /** Close the link; `lost` follows from the transport, or now. */
  drop(): void {
    const link = this.link;
    this.lost();
    if (link !== undefined) link.close();
  }

  /** The link is gone: notify, back off, try again (the next address first). */
  lost(): void {
    const wasUp = this.state === UP;
    this.link = undefined;
    this.state = IDLE;
    this.pingAt = -1;
    // in-flight messages are resent, with DUP, after the next CONNACK
    for (let i = 0; i < this.msgs.length; i++) if (this.msgs[i].state !== WAITING) this.msgs[i].dup = true;
    if (this.stopped) return;
    if (wasUp) this.b.log("bridge " + this.cfg.name + ": connection lost");
    this.notifyLocal(0);
    if (this.cfg.addresses.length > 1) this.addr = (this.addr + 1) % this.cfg.addresses.length;
    const base = this.cfg.restartBaseMs;
    const cap = this.cfg.restartCapMs;
    if (cap > 0) {
      // mosquitto's "decorrelated jitter": between the base and three times the last wait, capped
      let hi = this.restartMs * 3;
      if (hi < base) hi = base;
      let next = base + this.b.platform.random(hi - base + 1);
      this.restartMs = next > cap ? cap : next;
    } else {
      this.restartMs = base;
    }
    this.retryAt = this.b.platform.now() + this.restartMs;
  }

  onPacket(first: number, buf: Bytes, off: number, len: number): number {
    const type = Math.floor(first / 16);
    const u16 = (at: number): number => buf[at] * 256 + buf[at + 1];
    if (this.state === AWAIT_CONNACK) {
      if (type !== CONNACK || len !== 2) return ERR_PROTOCOL;
      const rc = buf[off + 1];
      if (rc !== 0) {
        // a remote that does not know the bridge bit answers 1: the next try is plain MQTT 3.1.1 (mosquitto)
        if (rc === 1 && this.privateOk) this.privateOk = false;
        this.b.log("bridge " + this.cfg.name + ": refused, CONNACK " + rc);
        return ERR_PROTOCOL;
      }
      this.up();
      return ERR_NONE;
    }
    if (this.state !== UP) return ERR_PROTOCOL;
    if (type === PUBLISH) return this.onPublish(Math.floor(first / 2) % 4, first % 2 === 1, buf, off, len);
    if (type === PUBACK || type === PUBREC || type === PUBCOMP || type === PUBREL) {
      if (len !== 2) return ERR_MALFORMED;
      const id = u16(off);
      if (type === PUBREL) {
        const at = this.incomingQos2.indexOf(id);
        if (at >= 0) this.incomingQos2.splice(at, 1);
        this.send(encodeAck(this.b.tx, 0, PUBCOMP, 0, id));
        return ERR_NONE;
      }
      if (type === PUBREC) this.send(encodeAck(this.b.tx, 0, PUBREL, 2, id));
      for (let i = 0; i < this.msgs.length; i++) {
        const m = this.msgs[i];
        if (m.state === WAITING || m.seq % PID_SPAN + 1 !== id) continue;
        if (type === PUBREC) {
          if (m.state === AWAIT_PUBREC) m.state = AWAIT_PUBCOMP;
          return ERR_NONE;
        }
        if (m.state !== (type === PUBACK ? AWAIT_PUBACK : AWAIT_PUBCOMP)) return ERR_PROTOCOL;
        this.msgs.splice(i, 1);
        this.bytes -= m.topic.length + m.payload.length;
        this.stats.delivered++;
        this.done(m);
        this.pump();
        return ERR_NONE;
      }
      return ERR_NONE;
    }
    if (type === PINGRESP) {
      this.pingAt = -1;
      return ERR_NONE;
    }
    if (type === SUBACK) return ERR_NONE;
    return ERR_PROTOCOL;
  }

  up(): void {
    const c = this.cfg;
    const b = this.b;
    this.state = UP;
    this.stats.connects++;
    this.restartMs = c.restartBaseMs;
    b.log("bridge " + c.name + ": connected");
    if (c.notifications) {
      this.send(encodePublishString(b.txFor(publishSize(c.notificationTopic.length, 1, 1)), 0, c.notificationTopic, "1", 1, true, false, PID_NOTIFY));
    }
    const filters: string[] = [];
    const qos: number[] = [];
    for (let i = 0; i < c.topics.length; i++) {
      const t = c.topics[i];
      if (t.direction === BRIDGE_OUT) continue;
      filters.push(t.remotePrefix + t.pattern);
      qos.push(t.qos);
    }
    if (filters.length > 0) {
      let size = 8;
      for (let f = 0; f < filters.length; f++) size += 3 + filters[f].length;
      this.send(encodeSubscribe(b.txFor(size), 0, PID_SUBSCRIBE, filters, qos));
    }
    // what was in flight goes again, in order (a PUBREL where the PUBREC came), then the rest
    for (let k = 0; k < this.msgs.length; k++) {
      const m = this.msgs[k];
      if (m.state === AWAIT_PUBCOMP) this.send(encodeAck(b.tx, 0, PUBREL, 2, m.seq % PID_SPAN + 1));
      else if (m.state !== WAITING) this.sendMsg(m);
    }
    this.notifyLocal(1);
    this.pump();
  }

  onPublish(qos: number, retain: boolean, buf: Bytes, off: number, len: number): number {
    if (qos === 3 || len < 2) return ERR_MALFORMED;
    const tl = buf[off] * 256 + buf[off + 1];
    let p = off + 2 + tl;
    const end = off + len;
    if (p > end) return ERR_MALFORMED;
    let id = 0;
    if (qos > 0) {
      if (p + 2 > end) return ERR_MALFORMED;
      id = buf[p] * 256 + buf[p + 1];
      p += 2;
    }
    const b = this.b;
    let fresh = true;
    if (qos === 2) {
      if (this.incomingQos2.indexOf(id) >= 0) fresh = false;
      else this.incomingQos2.push(id);
    }
    if (fresh) {
      const topics = this.cfg.topics;
      for (let i = 0; i < topics.length; i++) {
        const t = topics[i];
        if (t.direction === BRIDGE_OUT) continue;
        if (!filterMatchesBytes(t.remotePrefix + t.pattern, buf, off + 2, tl)) continue;
        const remote = text.str(buf, off + 2, tl);
        const local = t.localPrefix + remote.substring(t.remotePrefix.length);
        if (local.length === 0) break;
        this.stats.received++;
        this.publishLocal(local, text.str(buf, p, end - p), qos, retain);
        break;
      }
    }
    if (qos === 1) this.send(encodeAck(b.tx, 0, PUBACK, 0, id));
    else if (qos === 2) this.send(encodeAck(b.tx, 0, PUBREC, 0, id));
    return ERR_NONE;
  }

  /** Shut down: a last 0 on the remote, DISCONNECT (no will then), and locally 0. */
  stop(): void {
    const b = this.b;
    if (this.state === UP && this.link !== undefined) {
      const c = this.cfg;
      if (c.notifications) this.send(encodePublishString(b.txFor(publishSize(c.notificationTopic.length, 1, 0)), 0, c.notificationTopic, "0", 0, true, false, 0));
      this.send(encodeDisconnect(b.tx, 0));
    }
    const link = this.link;
    this.stopped = true;
    this.lost();
    if (link !== undefined) link.close();
  }
}

function u16s(n: number): string {
  return String.fromCharCode(Math.floor(n / 256) % 256, n % 256);
}

function u24s(n: number): string {
  return String.fromCharCode(Math.floor(n / 65536) % 256) + u16s(n % 65536);
}

function sum16(s: string, from: number, to: number): number {
  let a = 1;
  let c = 0;
  for (let i = from; i < to; i++) {
    a = (a + s.charCodeAt(i)) % 251;
    c = (c + a) % 251;
  }
  return c * 256 + a;
}

/** A journal record: type, body length (3 bytes), body, a 2-byte check. A torn tail fails the check. */
function record(type: number, body: string): string {
  return String.fromCharCode(type) + u24s(body.length) + body + u16s(sum16(body, 0, body.length));
}

export function journalAdd(m: BridgeMsg): string {
  return record(J_ADD, u24s(m.seq) + String.fromCharCode(m.qos, m.retain ? 1 : 0) + u16s(m.topic.length) + m.topic + m.payload);
}

export function journalDone(seq: number): string {
  return record(J_DONE, u24s(seq));
}

/**
 * The messages a journal still holds (added, not done), in order; reading
 * stops at the first torn or damaged record. `complete` says whether the
 * whole journal was read.
 */
export function readJournal(data: string): { msgs: BridgeMsg[]; complete: boolean } {
  const msgs: BridgeMsg[] = [];
  const r3 = (at: number): number => (data.charCodeAt(at) * 256 + data.charCodeAt(at + 1)) * 256 + data.charCodeAt(at + 2);
  let p = 0;
  while (p < data.length) {
    if (p + 6 > data.length) return { msgs: msgs, complete: false };
    const type = data.charCodeAt(p);
    const n = r3(p + 1);
    const body = p + 4;
    if (body + n + 2 > data.length) return { msgs: msgs, complete: false };
    const check = data.charCodeAt(body + n) * 256 + data.charCodeAt(body + n + 1);
    if (check !== sum16(data, body, body + n) || n < 3) return { msgs: msgs, complete: false };
    const seq = r3(body);
    if (type === J_ADD && n >= 7) {
      const tl = data.charCodeAt(body + 5) * 256 + data.charCodeAt(body + 6);
      if (7 + tl > n) return { msgs: msgs, complete: false };
      msgs.push({
        seq: seq, qos: data.charCodeAt(body + 3), retain: data.charCodeAt(body + 4) === 1,
        topic: data.substring(body + 7, body + 7 + tl), payload: data.substring(body + 7 + tl, body + n),
        state: WAITING, dup: true, durable: true,
      });
    } else if (type === J_DONE) {
      for (let i = 0; i < msgs.length; i++) {
        if (msgs[i].seq === seq) {
          msgs.splice(i, 1);
          break;
        }
      }
    } else {
      return { msgs: msgs, complete: false };
    }
    p = body + n + 2;
  }
  return { msgs: msgs, complete: true };
}

/**
 * Start the configured bridges: each restores its journal (persistence on
 * and a Storage that appends), publishes its local notification 0, and
 * connects at the first tick. The broker's routing then feeds them.
 */
export function startBridges(b: Broker): Bridge[] {
  const list: Bridge[] = [];
  const cfgs = b.config.bridges;
  if (cfgs === undefined || cfgs.length === 0) return list;
  const st = b.platform.storage;
  for (let i = 0; i < cfgs.length; i++) {
    const br = new Bridge(b, cfgs[i], i);
    if (b.config.persistence && st !== undefined && st.append !== undefined) {
      br.journal = "mqtt.bq" + i;
      const data = st.read(br.journal);
      if (data !== undefined && data.length > 0) {
        const got = readJournal(data);
        for (let k = 0; k < got.msgs.length; k++) {
          const m = got.msgs[k];
          br.msgs.push(m);
          br.bytes += m.topic.length + m.payload.length;
          if (m.seq >= br.nextSeq) br.nextSeq = m.seq + 1 >= SEQ_WRAP ? 1 : m.seq + 1;
        }
        br.stats.restored = got.msgs.length;
        // rewritten whole: what a torn tail or delivered records took is given back
        let all = "";
        for (let j = 0; j < br.msgs.length; j++) all += journalAdd(br.msgs[j]);
        if (all.length === 0) st.erase(br.journal);
        else st.write(br.journal, all);
        br.journalBytes = all.length;
        b.log("bridge " + cfgs[i].name + ": " + got.msgs.length + " messages restored from the journal");
      }
    }
    list.push(br);
  }
  b.bridges = list;
  b.bridgeOut = bridgeOut;
  for (let n = 0; n < list.length; n++) list[n].notifyLocal(0);
  return list;
}

/** Broker.bridgeOut: what routePublish hands every bridge. */
function bridgeOut(b: Broker, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number, qos: number): void {
  const retain = b.bridgeRetain;
  b.bridgeRetain = false;
  const list = b.bridges as Bridge[];
  for (let i = 0; i < list.length; i++) {
    if (list[i] === b.bridgeFrom) continue;
    list[i].out(src, topicOff, topicLen, payloadOff, payloadLen, qos, retain);
  }
}

/** Every tick of the broker. */
export function tickBridges(b: Broker): void {
  const list = b.bridges;
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) list[i].tick();
}

export function stopBridges(b: Broker): void {
  const list = b.bridges;
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) list[i].stop();
}

/** For tests: does a filter match a topic (both strings). */
export function bridgeMatches(filter: string, topic: string): boolean {
  return filterMatchesString(filter, topic);
}
