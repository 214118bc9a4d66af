import {
  CONNACK, ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK,
} from "../codec/constants";
import {
  encodeAck, encodeConnect, encodeDisconnect, encodePingreq, encodePublishString, encodeSubscribe, publishSize,
} from "../codec/encode";
import { readStringLength, readU16 } from "../codec/cursor";
import { PacketReader, PacketSink } from "../codec/reader";
import type { BrokerState } from "../broker/state";
import { retainMessage, routePublish } from "../broker/deliver";
import { Bytes, Link, LinkEvents } from "../platform";
import { filterMatchesBytes } from "../topics/match";

import { BRIDGE_IN, BRIDGE_OUT, BridgeConfig, BridgeView } from "./types";
import { text } from "../codec/text";

/*
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
 * On the board all of it is cold code (firmware/espruino/tools/build.ts): a broker
 * without a bridge holds none of it, and one with a bridge loads each part
 * from Storage for the event it handles.
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

/** A queued message's marks beside its state (the low two bits): resent with DUP; in the journal. */
const DUP = 4;
const DURABLE = 8;

/*
 * A queued message is one string, the body of its journal record: sequence
 * number (3 bytes), QoS, retain (1 or 0), topic length (2 bytes), topic,
 * payload. On the board an object of eight fields cost about 15 JsVars a
 * message; this costs its characters and one. Its state and marks are a
 * number in a parallel array.
 */
const REC_TOPIC = 7;

function recSeq(r: string): number {
  return (r.charCodeAt(0) * 256 + r.charCodeAt(1)) * 256 + r.charCodeAt(2);
}

function recTopicEnd(r: string): number {
  return REC_TOPIC + r.charCodeAt(5) * 256 + r.charCodeAt(6);
}

function hasDup(mark: number): boolean {
  return Math.floor(mark / DUP) % 2 === 1;
}

/** Topic and payload bytes: what maxBridgeQueuedBytes counts. */
function recSize(r: string): number {
  return r.length - REC_TOPIC;
}

function recBody(seq: number, topic: string, payload: string, qos: number, retain: boolean): string {
  return u24s(seq) + String.fromCharCode(qos, retain ? 1 : 0) + u16s(topic.length) + topic + payload;
}

/** A message for the remote, as the tests and readJournal show it. Topic and payload as binary strings. */
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


/**
 * A bridge's state. Plain data, and the code below free functions over it:
 * on the board every function of the bridge is cold (loaded from Storage
 * when called), which a class's prototype methods could not be; a broker
 * without a bridge holds none of it.
 */
export interface Bridge extends BridgeView {
  b: BrokerState;
  index: number;
  state: number;
  link: Link | undefined;
  /** Which link the events are for: one more at every open, so a late event of an old link is ignored. */
  linkGen: number;
  reader: PacketReader | undefined;
  /** Each one's state, plus DUP and DURABLE. */
  marks: number[];
  bytes: number;
  nextSeq: number;
  incomingQos2: number[];
  retryAt: number;
  restartMs: number;
  addr: number;
  openedAt: number;
  lastSent: number;
  lastReceived: number;
  pingAt: number;
  privateOk: boolean;
  /** The notification state published locally last (-1: none yet). */
  notified: number;
  journal: string | undefined;
  journalBytes: number;
  stopped: boolean;
}

export function newBridge(b: BrokerState, cfg: BridgeConfig, index: number): Bridge {
  return {
    b: b, cfg: cfg, index: index, state: IDLE, link: undefined, linkGen: 0, reader: undefined, recs: [], marks: [], bytes: 0,
    nextSeq: 1, incomingQos2: [], retryAt: 0, restartMs: cfg.restartBaseMs, addr: 0, openedAt: 0, lastSent: 0,
    lastReceived: 0, pingAt: -1, privateOk: true, notified: -1, journal: undefined, journalBytes: 0,
    stats: { queued: 0, sent: 0, delivered: 0, dropped: 0, received: 0, restored: 0, connects: 0 }, stopped: false,
  };
}

/** What is queued or in flight. */
export function bridgeCount(br: Bridge): number {
  return br.recs.length;
}

/** What is queued or in flight, as messages (tests; the board never makes these). */
export function bridgeMessages(br: Bridge): BridgeMsg[] {
  const out: BridgeMsg[] = [];
  for (let i = 0; i < br.recs.length; i++) out.push(recMessage(br.recs[i], br.marks[i]));
  return out;
}

function recMessage(r: string, mark: number): BridgeMsg {
  const te = recTopicEnd(r);
  return {
    seq: recSeq(r), qos: r.charCodeAt(3), retain: r.charCodeAt(4) === 1, topic: r.substring(REC_TOPIC, te), payload: r.substring(te),
    state: mark % 4, dup: hasDup(mark), durable: mark >= DURABLE,
  };
}

function queueBounds(b: BrokerState): { count: number; bytes: number } {
  const p = b.profile;
  return {
    count: p.maxBridgeQueued !== undefined ? p.maxBridgeQueued : p.maxQueued,
    bytes: p.maxBridgeQueuedBytes !== undefined ? p.maxBridgeQueuedBytes : p.maxRetainedBytes,
  };
}

// ---- the local side ----

/** A message the broker routed: queue it for the remote if an `out` topic matches. */
function outOne(br: Bridge, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number, qos: number, retain: boolean): void {
  const topics = br.cfg.topics;
  for (let i = 0; i < topics.length; i++) {
    const t = topics[i];
    if (t.direction === BRIDGE_IN) continue;
    const filter = t.localPrefix + t.pattern;
    if (!filterMatchesBytes(filter, src, topicOff, topicLen)) continue;
    const local = text.str(src, topicOff, topicLen);
    const remote = t.remotePrefix + local.substring(t.localPrefix.length);
    enqueue(br, remote, text.str(src, payloadOff, payloadLen), qos < t.qos ? qos : t.qos, retain);
    return;
  }
}

function enqueue(br: Bridge, topic: string, payload: string, qos: number, retain: boolean): void {
  // as mosquitto: QoS 0 for a bridge that is not connected is not kept
  if (qos === 0 && br.state !== UP) {
    br.stats.dropped++;
    return;
  }
  const size = topic.length + payload.length;
  const max = queueBounds(br.b);
  // full: the oldest waiting QoS 0 goes first; with none, the new message is dropped (mosquitto)
  while (br.recs.length + 1 > max.count || br.bytes + size > max.bytes) {
    let at = -1;
    for (let i = 0; i < br.recs.length; i++) {
      if (br.recs[i].charCodeAt(3) === 0 && br.marks[i] % 4 === WAITING) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      br.stats.dropped++;
      br.b.stats.publishDropped++;
      return;
    }
    br.bytes -= recSize(br.recs[at]);
    br.recs.splice(at, 1);
    br.marks.splice(at, 1);
    br.stats.dropped++;
  }
  const r = recBody(br.nextSeq, topic, payload, qos, retain);
  br.nextSeq = br.nextSeq >= SEQ_WRAP ? 1 : br.nextSeq + 1;
  // durable before the local publisher's PUBACK: that is sent after routing returns
  const durable = qos > 0 && br.journal !== undefined && journalAppend(br, record(J_ADD, r));
  br.recs.push(r);
  br.marks.push(durable ? DURABLE : 0);
  br.bytes += size;
  br.stats.queued++;
  pump(br);
}

/** A message from the remote: published here as if a local client had sent it, but never back out over this bridge. */
function publishLocal(br: Bridge, topic: string, payload: string, qos: number, retain: boolean): void {
  const b = br.b;
  const tl = topic.length;
  const buf = b.platform.alloc.bytes(tl + payload.length);
  for (let i = 0; i < tl; i++) buf[i] = topic.charCodeAt(i);
  for (let j = 0; j < payload.length; j++) buf[tl + j] = payload.charCodeAt(j);
  if (retain && b.config.retainAvailable) retainMessage(b, buf, 0, tl, tl, payload.length, qos, undefined);
  const before = b.bridgeFrom;
  b.bridgeFrom = br;
  b.bridgeRetain = retain;
  routePublish(b, buf, 0, tl, tl, payload.length, qos, undefined, undefined, undefined);
  b.bridgeFrom = before;
}

function notifyLocal(br: Bridge, up: number): void {
  if (!br.cfg.notifications || br.notified === up) return;
  br.notified = up;
  publishLocal(br, br.cfg.notificationTopic, up === 1 ? "1" : "0", 1, true);
}

// ---- the journal ----

function journalAppend(br: Bridge, rec: string): boolean {
  const st = br.b.platform.storage;
  if (st === undefined || st.append === undefined || br.journal === undefined) return false;
  const ok = st.append(br.journal, rec);
  if (ok) br.journalBytes += rec.length;
  return ok;
}

/** Delivered (already out of the queue): a D record, and the journal compacted when nothing durable is left or it grew large. */
function journalDelivered(br: Bridge, r: string, mark: number): void {
  if (mark < DURABLE || br.journal === undefined) return;
  const st = br.b.platform.storage;
  if (st === undefined) return;
  let left = 0;
  for (let i = 0; i < br.marks.length; i++) if (br.marks[i] >= DURABLE) left++;
  if (left === 0) {
    st.erase(br.journal);
    br.journalBytes = 0;
    return;
  }
  if (br.journalBytes > journalCompactAt(br.b)) {
    let all = "";
    for (let k = 0; k < br.recs.length; k++) if (br.marks[k] >= DURABLE) all += record(J_ADD, br.recs[k]);
    if (st.write(br.journal, all)) br.journalBytes = all.length;
    return;
  }
  journalAppend(br, journalDone(recSeq(r)));
}

/**
 * The journal is rewritten with what it still holds once it grew past this:
 * twice the queue's bytes and a margin for the records' own bytes. A board's
 * journal file is sized from it (firmware/espruino/journal.ts).
 * @cold 410
 */
export function journalCompactAt(b: BrokerState): number {
  return 2 * queueBounds(b).bytes + 1024;
}

// ---- the remote side ----

function send(br: Bridge, len: number): void {
  if (br.link === undefined) return;
  br.lastSent = br.b.platform.now();
  br.link.send(br.b.tx, 0, len);
}

function sendMsg(br: Bridge, i: number): void {
  const b = br.b;
  const r = br.recs[i];
  const pid = recSeq(r) % PID_SPAN + 1;
  const te = recTopicEnd(r);
  const topic = r.substring(REC_TOPIC, te);
  const payload = r.substring(te);
  const qos = r.charCodeAt(3);
  const len = encodePublishString(b.txFor(publishSize(topic.length, payload.length, qos)), 0, topic, payload, qos, r.charCodeAt(4) === 1,
    hasDup(br.marks[i]), pid);
  br.stats.sent++;
  send(br, len);
}

/** Send what waits while the window (maxInflight) and the link's send queue allow. */
function pump(br: Bridge): void {
  if (br.state !== UP || br.link === undefined) return;
  const p = br.b.profile;
  let flying = 0;
  for (let i = 0; i < br.recs.length; i++) {
    if (br.marks[i] % 4 !== WAITING) {
      flying++;
      continue;
    }
    if (flying >= p.maxInflight || br.link.queued() > p.maxSendQueueBytes) return;
    sendMsg(br, i);
    const qos = br.recs[i].charCodeAt(3);
    if (qos === 0) {
      br.bytes -= recSize(br.recs[i]);
      br.recs.splice(i, 1);
      br.marks.splice(i, 1);
      i--;
      br.stats.delivered++;
    } else {
      br.marks[i] += qos === 1 ? AWAIT_PUBACK : AWAIT_PUBREC;
      flying++;
    }
  }
}

/** Once per broker tick: connect when due, keepalive, what waited for room. */
export function tickBridge(br: Bridge): void {
  if (br.stopped) return;
  const b = br.b;
  const now = b.platform.now();
  if (br.state === IDLE) {
    if (now >= br.retryAt) open(br);
    return;
  }
  if (br.state !== UP) {
    if (now - br.openedAt > b.profile.connectTimeoutMs) drop(br);
    return;
  }
  const ka = br.cfg.keepalive * 1000;
  if (br.pingAt >= 0 && now - br.pingAt > ka) {
    drop(br); // no PINGRESP within a keepalive period
    return;
  }
  if (ka > 0 && br.pingAt < 0 && now - br.lastSent >= ka) {
    br.pingAt = now;
    send(br, encodePingreq(b.tx, 0));
  }
  pump(br);
}

function open(br: Bridge): void {
  const b = br.b;
  const connect = b.platform.connect;
  br.state = OPENING;
  br.openedAt = b.platform.now();
  const p = b.profile;
  br.reader = new PacketReader(b.platform.alloc, p.maxPacketSize, 256, p.readerKeepBytes < 256 ? 256 : p.readerKeepBytes);
  const a = br.cfg.addresses[br.addr];
  b.log("bridge " + br.cfg.name + ": connecting to " + a.host + ":" + a.port);
  br.linkGen++;
  const link = connect !== undefined ? connect(a.host, a.port, br.cfg.name, linkEvents(br, br.linkGen)) : undefined;
  if (link === undefined) {
    linkLost(br);
    return;
  }
  br.link = link;
}

/**
 * The events of one link, for that link only. In a function of its own: on
 * the board these closures live as long as the link, and they keep the
 * scope they were made in, which here holds nothing else.
 * @cold 370
 */
function linkEvents(br: Bridge, gen: number): LinkEvents {
  return {
    opened: () => {
      if (br.linkGen === gen) linkOpened(br);
    },
    data: (buf: Bytes, off: number, len: number) => {
      if (br.linkGen === gen) linkData(br, buf, off, len);
    },
    closed: () => {
      if (br.linkGen === gen && br.link !== undefined) linkLost(br);
    },
  };
}

/**
 * Connected: CONNECT, with the notification's 0 as the will.
 * @cold 380
 */
function linkOpened(br: Bridge): void {
  const c = br.cfg;
  const b = br.b;
  br.state = AWAIT_CONNACK;
  const will = c.notifications ? c.notificationTopic : undefined;
  const size = 64 + c.clientId.length + (will !== undefined ? will.length : 0) +
    (c.username !== undefined ? c.username.length : 0) + (c.password !== undefined ? c.password.length : 0);
  const len = encodeConnect(b.txFor(size), 0, {
    protocolName: "MQTT", protocolLevel: c.tryPrivate && br.privateOk ? 0x84 : 4, clientId: c.clientId,
    cleanSession: c.cleanSession, keepalive: c.keepalive, username: c.username, password: c.password,
    willTopic: will, willMessage: "0", willQos: 1, willRetain: true,
  });
  send(br, len);
}

/** @cold 390 */
function linkData(br: Bridge, buf: Bytes, off: number, len: number): void {
  br.lastReceived = br.b.platform.now();
  const gen = br.linkGen;
  const sink: PacketSink = {
    onPacket: (first: number, pb: Bytes, po: number, pl: number) => onPacket(br, first, pb, po, pl),
  };
  const err = br.reader !== undefined ? br.reader.feed(buf, off, len, sink) : ERR_NONE;
  if (err !== ERR_NONE && br.linkGen === gen && br.link !== undefined) drop(br);
}

/** Close the link; the transport's `closed` that follows is for a link already let go. */
function drop(br: Bridge): void {
  const link = br.link;
  linkLost(br);
  if (link !== undefined) link.close();
}

/**
 * The link is gone: notify, back off, try again (the next address first).
 * @cold 400
 */
function linkLost(br: Bridge): void {
  const wasUp = br.state === UP;
  br.link = undefined;
  br.linkGen++;
  br.state = IDLE;
  br.pingAt = -1;
  // in-flight messages are resent, with DUP, after the next CONNACK
  for (let i = 0; i < br.marks.length; i++) {
    if (br.marks[i] % 4 !== WAITING && !hasDup(br.marks[i])) br.marks[i] += DUP;
  }
  if (br.stopped) return;
  const b = br.b;
  if (wasUp) b.log("bridge " + br.cfg.name + ": connection lost");
  notifyLocal(br, 0);
  if (br.cfg.addresses.length > 1) br.addr = (br.addr + 1) % br.cfg.addresses.length;
  const base = br.cfg.restartBaseMs;
  const cap = br.cfg.restartCapMs;
  if (cap > 0) {
    // mosquitto's "decorrelated jitter": between the base and three times the last wait, capped
    let hi = br.restartMs * 3;
    if (hi < base) hi = base;
    const next = base + b.platform.random(hi - base + 1);
    br.restartMs = next > cap ? cap : next;
  } else {
    br.restartMs = base;
  }
  br.retryAt = b.platform.now() + br.restartMs;
}

function onPacket(br: Bridge, first: number, buf: Bytes, off: number, len: number): number {
  const type = Math.floor(first / 16);
  if (br.state === AWAIT_CONNACK) {
    if (type !== CONNACK || len !== 2) return ERR_PROTOCOL;
    const rc = buf[off + 1];
    if (rc !== 0) {
      // a remote that does not know the bridge bit answers 1: the next try is plain MQTT 3.1.1 (mosquitto)
      if (rc === 1 && br.privateOk) br.privateOk = false;
      br.b.log("bridge " + br.cfg.name + ": refused, CONNACK " + rc);
      return ERR_PROTOCOL;
    }
    up(br);
    return ERR_NONE;
  }
  if (br.state !== UP) return ERR_PROTOCOL;
  if (type === PUBLISH) return onPublish(br, Math.floor(first / 2) % 4, first % 2 === 1, buf, off, len);
  if (type === PUBACK || type === PUBREC || type === PUBCOMP || type === PUBREL) {
    if (len !== 2) return ERR_MALFORMED;
    return onAck(br, type, readU16(buf, off, off + len));
  }
  if (type === PINGRESP) {
    br.pingAt = -1;
    return ERR_NONE;
  }
  if (type === SUBACK) return ERR_NONE;
  return ERR_PROTOCOL;
}

function onAck(br: Bridge, type: number, id: number): number {
  const b = br.b;
  if (type === PUBREL) {
    const at = br.incomingQos2.indexOf(id);
    if (at >= 0) br.incomingQos2.splice(at, 1);
    send(br, encodeAck(b.tx, 0, PUBCOMP, 0, id));
    return ERR_NONE;
  }
  if (type === PUBREC) send(br, encodeAck(b.tx, 0, PUBREL, 2, id));
  for (let i = 0; i < br.recs.length; i++) {
    const state = br.marks[i] % 4;
    if (state === WAITING || recSeq(br.recs[i]) % PID_SPAN + 1 !== id) continue;
    if (type === PUBREC) {
      if (state === AWAIT_PUBREC) br.marks[i] += AWAIT_PUBCOMP - AWAIT_PUBREC;
      return ERR_NONE;
    }
    if (state !== (type === PUBACK ? AWAIT_PUBACK : AWAIT_PUBCOMP)) return ERR_PROTOCOL;
    const r = br.recs[i];
    const mark = br.marks[i];
    br.recs.splice(i, 1);
    br.marks.splice(i, 1);
    br.bytes -= recSize(r);
    br.stats.delivered++;
    journalDelivered(br, r, mark);
    pump(br);
    return ERR_NONE;
  }
  return ERR_NONE;
}

function up(br: Bridge): void {
  const c = br.cfg;
  const b = br.b;
  br.state = UP;
  br.stats.connects++;
  br.restartMs = c.restartBaseMs;
  b.log("bridge " + c.name + ": connected");
  if (c.notifications) {
    send(br, encodePublishString(b.txFor(publishSize(c.notificationTopic.length, 1, 1)), 0, c.notificationTopic, "1", 1, true, false, PID_NOTIFY));
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
    send(br, encodeSubscribe(b.txFor(size), 0, PID_SUBSCRIBE, filters, qos));
  }
  // what was in flight goes again, in order (a PUBREL where the PUBREC came), then the rest
  for (let k = 0; k < br.recs.length; k++) {
    const state = br.marks[k] % 4;
    if (state === AWAIT_PUBCOMP) send(br, encodeAck(b.tx, 0, PUBREL, 2, recSeq(br.recs[k]) % PID_SPAN + 1));
    else if (state !== WAITING) sendMsg(br, k);
  }
  notifyLocal(br, 1);
  pump(br);
}

function onPublish(br: Bridge, qos: number, retain: boolean, buf: Bytes, off: number, len: number): number {
  const end = off + len;
  const tl = readStringLength(buf, off, end);
  if (qos === 3 || tl < 0) return ERR_MALFORMED;
  let p = off + 2 + tl;
  let id = 0;
  if (qos > 0) {
    id = readU16(buf, p, end);
    if (id < 0) return ERR_MALFORMED;
    p += 2;
  }
  const b = br.b;
  let fresh = true;
  if (qos === 2) {
    if (br.incomingQos2.indexOf(id) >= 0) fresh = false;
    else br.incomingQos2.push(id);
  }
  if (fresh) {
    const topics = br.cfg.topics;
    for (let i = 0; i < topics.length; i++) {
      const t = topics[i];
      if (t.direction === BRIDGE_OUT) continue;
      if (!filterMatchesBytes(t.remotePrefix + t.pattern, buf, off + 2, tl)) continue;
      const remote = text.str(buf, off + 2, tl);
      const local = t.localPrefix + remote.substring(t.remotePrefix.length);
      if (local.length === 0) break;
      br.stats.received++;
      publishLocal(br, local, text.str(buf, p, end - p), qos, retain);
      break;
    }
  }
  if (qos === 1) send(br, encodeAck(b.tx, 0, PUBACK, 0, id));
  else if (qos === 2) send(br, encodeAck(b.tx, 0, PUBREC, 0, id));
  return ERR_NONE;
}

/** Shut down: a last 0 on the remote, DISCONNECT (no will then), and locally 0. */
function stopBridge(br: Bridge): void {
  const b = br.b;
  if (br.state === UP && br.link !== undefined) {
    const c = br.cfg;
    if (c.notifications) send(br, encodePublishString(b.txFor(publishSize(c.notificationTopic.length, 1, 0)), 0, c.notificationTopic, "0", 0, true, false, 0));
    send(br, encodeDisconnect(b.tx, 0));
  }
  const link = br.link;
  br.stopped = true;
  linkLost(br);
  if (link !== undefined) link.close();
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
  return record(J_ADD, recBody(m.seq, m.topic, m.payload, m.qos, m.retain));
}

export function journalDone(seq: number): string {
  return record(J_DONE, u24s(seq));
}

/**
 * The records a journal still holds (added, not done), in order, as queued
 * messages' strings (the body of each A record); reading stops at the first
 * torn or damaged record. `complete` says whether the whole journal was read.
 */
function journalRecords(data: string): { recs: string[]; complete: boolean } {
  const recs: string[] = [];
  const r3 = (at: number): number => (data.charCodeAt(at) * 256 + data.charCodeAt(at + 1)) * 256 + data.charCodeAt(at + 2);
  let p = 0;
  while (p < data.length) {
    if (p + 6 > data.length) return { recs: recs, complete: false };
    const type = data.charCodeAt(p);
    const n = r3(p + 1);
    const body = p + 4;
    if (body + n + 2 > data.length) return { recs: recs, complete: false };
    const check = data.charCodeAt(body + n) * 256 + data.charCodeAt(body + n + 1);
    if (check !== sum16(data, body, body + n) || n < 3) return { recs: recs, complete: false };
    const seq = r3(body);
    if (type === J_ADD && n >= REC_TOPIC) {
      const tl = data.charCodeAt(body + 5) * 256 + data.charCodeAt(body + 6);
      if (REC_TOPIC + tl > n) return { recs: recs, complete: false };
      recs.push(data.substring(body, body + n));
    } else if (type === J_DONE) {
      for (let i = 0; i < recs.length; i++) {
        if (recSeq(recs[i]) === seq) {
          recs.splice(i, 1);
          break;
        }
      }
    } else {
      return { recs: recs, complete: false };
    }
    p = body + n + 2;
  }
  return { recs: recs, complete: true };
}

/** The messages a journal still holds, as a restart restores them: to be resent with DUP. */
export function readJournal(data: string): { msgs: BridgeMsg[]; complete: boolean } {
  const got = journalRecords(data);
  const msgs: BridgeMsg[] = [];
  for (let i = 0; i < got.recs.length; i++) msgs.push(recMessage(got.recs[i], WAITING + DUP + DURABLE));
  return { msgs: msgs, complete: got.complete };
}

/**
 * Start the configured bridges: each restores its journal (persistence on
 * and a Storage that appends), publishes its local notification 0, and
 * connects at the first tick. The broker's routing then feeds them.
 * @cold 320
 */
export function startBridges(b: BrokerState): Bridge[] {
  const list: Bridge[] = [];
  const cfgs = b.config.bridges;
  if (cfgs === undefined || cfgs.length === 0) return list;
  const st = b.platform.storage;
  for (let i = 0; i < cfgs.length; i++) {
    const br = newBridge(b, cfgs[i], i);
    if (b.config.persistence && st !== undefined && st.append !== undefined) {
      br.journal = "mqtt.bq" + i;
      const data = st.read(br.journal);
      if (data !== undefined && data.length > 0) {
        const got = journalRecords(data);
        for (let k = 0; k < got.recs.length; k++) {
          const r = got.recs[k];
          const seq = recSeq(r);
          br.recs.push(r);
          // resent with DUP: the remote may have had it before the restart
          br.marks.push(WAITING + DUP + DURABLE);
          br.bytes += recSize(r);
          if (seq >= br.nextSeq) br.nextSeq = seq + 1 >= SEQ_WRAP ? 1 : seq + 1;
        }
        br.stats.restored = got.recs.length;
        // rewritten whole: what a torn tail or delivered records took is given back
        let all = "";
        for (let j = 0; j < br.recs.length; j++) all += record(J_ADD, br.recs[j]);
        if (all.length === 0) st.erase(br.journal);
        else st.write(br.journal, all);
        br.journalBytes = all.length;
        b.log("bridge " + cfgs[i].name + ": " + got.recs.length + " messages restored from the journal");
      }
    }
    list.push(br);
  }
  b.bridges = list;
  b.bridgeOut = outHook();
  for (let n = 0; n < list.length; n++) notifyLocal(list[n], 0);
  return list;
}

/**
 * Broker.bridgeOut, a function that only calls bridgeOut. On the board what
 * a cold function hands out keeps its whole file alive; this one's file
 * holds only itself, and bridgeOut is loaded for each message it is given.
 * @cold 360
 */
function outHook(): (b: BrokerState, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number, qos: number) => void {
  return (b: BrokerState, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number, qos: number) =>
    bridgeOut(b, src, topicOff, topicLen, payloadOff, payloadLen, qos);
}

/**
 * What routePublish hands every bridge.
 * @cold 350
 */
function bridgeOut(b: BrokerState, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number, qos: number): void {
  const retain = b.bridgeRetain;
  b.bridgeRetain = false;
  const list = b.bridges as Bridge[];
  for (let i = 0; i < list.length; i++) {
    if (list[i] === b.bridgeFrom) continue;
    outOne(list[i], src, topicOff, topicLen, payloadOff, payloadLen, qos, retain);
  }
}

/**
 * Every tick of the broker.
 * @cold 330
 */
export function tickBridges(b: BrokerState): void {
  const list = b.bridges as Bridge[] | undefined;
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) tickBridge(list[i]);
}

/**
 * The network went (down, `up` false) or came back (the board's Wi-Fi): a
 * link over a network that is gone is dropped now, not at its keepalive,
 * and a bridge waiting out its backoff connects at the next tick.
 * @cold 340
 */
export function bridgesNetwork(b: BrokerState, up: boolean): void {
  const list = b.bridges as Bridge[] | undefined;
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) {
    const br = list[i];
    if (!up && br.link !== undefined) drop(br);
    if (up && br.state === IDLE) br.retryAt = b.platform.now();
  }
}

export function stopBridges(b: BrokerState): void {
  const list = b.bridges as Bridge[] | undefined;
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) stopBridge(list[i]);
}
