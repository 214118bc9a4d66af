/**
 * Socket data in, on Espruino. A QoS 0 PUBLISH to a topic whose route the
 * core keeps (broker/route_cache.ts) goes from the binary string Espruino
 * handed over straight to its receivers' sockets: framed with charCodeAt,
 * its topic cut with substr, looked up by key, written on. Everything else
 * goes through the parser. Kept apart from main.ts so that the desktop tests
 * run this same code against the parser alone
 * (test/unit/espruino-receive.test.ts).
 */
import type { Broker } from "../core/broker/broker";
import { CLOSED, CONNECTED, Connection } from "../core/broker/connection";
import { StoredMessage } from "../core/message";
import { routedRaw } from "../core/broker/route_cache";
import { Route } from "../core/broker/state";
import { CONNECT } from "../core/codec/constants";
import { text } from "../core/codec/text";
import { Bytes } from "../core/platform";
import { AWAIT_PUBACK, AWAIT_PUBCOMP, AWAIT_PUBREC, Session } from "../core/session/session";

/**
 * What the fast path needs of the transport: sockets by "s" + id, what each
 * has queued, and the bytes written to any since the pool was last looked at
 * (main.ts looks again once they pass a bound, not at every chunk).
 */
export interface RawSockets {
  socks: { [key: string]: any };
  queue: { [key: string]: number };
  written: number;
}

/**
 * Per connection: the connection, a packet cut at a chunk's end waiting for
 * the rest, and whether the parser was left inside a packet (it gathers one
 * larger than a chunk, or a CONNECT as it comes).
 */
export interface Receiver {
  conn: Connection;
  pend: string;
  inside: boolean;
  /** The one packet shape this publisher streams, once seen repeated (learnStream); absent before. */
  stream?: Stream;
}

/**
 * A publisher sending one packet shape over and over (a sensor's fixed-size
 * samples): its packets' first bytes up to the payload (type, length, topic),
 * their size, and the route they take with its key in Broker.routes. Kept
 * while that route is the one kept for the key: routing changing, the
 * publisher's ACL or a receiver leaving all empty Broker.routes.
 */
export interface Stream {
  head: string;
  size: number;
  key: string;
  route: Route;
}

declare const E: any;
declare const BOARD_BUILD: boolean;

/** First byte of a QoS 0 PUBLISH with DUP and RETAIN clear: what a receiver gets as it is. */
const PLAIN_QOS0_PUBLISH = 0x30;
/**
 * The same as a one-character string: here indexing a string costs a third of a charCodeAt call
 * (measured on the interpreter: about 35-70 us against 160), and the stretch's loop tests it per packet.
 */
const PLAIN_QOS0_FIRST_CHAR = "0";
/** First bytes of QoS 1 and 2 PUBLISHes with DUP and RETAIN clear. */
const PLAIN_QOS1_PUBLISH = 0x32;
const PLAIN_QOS2_PUBLISH = 0x34;
/** First bytes of the acknowledgements, with their required flags [MQTT-2.2.2-1]. */
const PUBACK_FIRST = 0x40;
const PUBREC_FIRST = 0x50;
const PUBREL_FIRST = 0x62;
const PUBCOMP_FIRST = 0x70;

/**
 * A route's receivers as the fast path writes to them (Route.out): their
 * sockets, the keys of their send queues, and those keys joined, so that
 * routes with the same receivers are told apart from others by one compare.
 * Made once per route: a socket closing drops every route.
 */
interface RouteOut {
  sockets: any[];
  keys: string[];
  receivers: string;
  /** 1 when the route matched a subscription (Route.matched, for the counters), else 0. */
  heard: number;
  /** The lowest QoS any receiver was granted: a QoS 1/2 message takes the fast path only above 0. */
  lowest: number;
}

/*
 * Writes of the QoS 1/2 path held back to go as one: a chunk's PUBACKs to
 * its sender, its PUBLISHes to one receiver (each write costs as much as
 * a dozen statements here). At most two sockets' at a time, A filled
 * first (nothing is held when A is empty); whatever else writes (the
 * parser, the core, the QoS 0 path) and the end of the chunk flush them
 * first, so every socket's bytes keep their order.
 */
let heldKeyA = "";
let heldA = "";
let heldKeyB = "";
let heldB = "";

/** Hold `data` for the socket of `key` (flushHeld writes it). */
function hold(socks: RawSockets, key: string, data: string): void {
  "ram";
  if (key === heldKeyA) heldA += data;
  else if (key === heldKeyB) heldB += data;
  else {
    if (heldB !== "") flushHeld(socks);
    if (heldA === "") {
      heldKeyA = key;
      heldA = data;
    } else {
      heldKeyB = key;
      heldB = data;
    }
  }
}

/** Write what is held. */
function flushHeld(socks: RawSockets): void {
  if (heldA !== "") writeRaw(socks, heldKeyA, heldA);
  if (heldB !== "") writeRaw(socks, heldKeyB, heldB);
  heldKeyA = heldA = heldKeyB = heldB = "";
}

/*
 * The QoS 1/2 path (storedOne, acked), warm: on a board their text is in
 * RAM only while there is traffic for it. They are "ram" functions (read
 * about twice as fast as from flash: QoS 1 44 -> 79 msg/s measured) made
 * cold by the build (marked @cold, tools/cold-roots.ts), so the first use loads
 * them from Storage into RAM, about 180 JsVars, and they are kept here
 * until a tick finds no route kept (main.ts calls coolDown): an idle
 * board, or one whose clients just came, went or subscribed, holds none.
 * On the desktop they are plain functions.
 */
let warmStored: typeof storedOne | undefined = undefined;
let warmAcked: typeof acked | undefined = undefined;

/** Let go of the warm QoS 1/2 path (main.ts: on a tick with no route kept). */
export function coolDown(): void {
  warmStored = undefined;
  warmAcked = undefined;
}

/**
 * Bytes `d` (a binary string) arrived on `rx`'s connection. Packets are
 * framed here from their fixed headers. Plain QoS 0 PUBLISHes on kept routes
 * go as they came to their receivers, consecutive ones with the same
 * receivers in one write to each; any other packet goes whole through
 * `chunk` (the shared receive buffer) into the parser, which keeps the
 * routes (parseOne). A packet cut at the end waits in `rx.pend` (up to a
 * chunk's size; a larger one is gathered by the parser, within its limit).
 * While `congested`, no packet takes the fast path: the parser's way drops
 * QoS 0 for a full queue.
 *
 * Every packet of a stream passes this loop, where each operation costs tens
 * of microseconds on the interpreter: it does as few per packet as will do.
 * "ram" has Espruino keep its text in RAM (about 40 JsVars; stretch, about
 * 60: 520 and 780 characters minified), read several times faster than
 * from flash: the same-topic stream 1.4x (measured). The
 * loop is short, each kind of packet's work in a function of its own:
 * Espruino reads past the text of every branch not taken, as it runs.
 */
export function receive(b: Broker, socks: RawSockets, rx: Receiver, d: string, chunk: Bytes, congested: boolean): void {
  "ram";
  // bytes count as received when they arrive, as the parser counts them (parseOne takes them back
  // out before Broker.data counts them again)
  b.stats.bytesReceived += d.length;
  if (rx.pend !== "") {
    d = rx.pend + d;
    rx.pend = "";
  }
  const conn = rx.conn;
  const len = d.length;
  // the payload limit: a packet over it is the parser's to drop
  const limit = b.profile.maxPayloadSize > 0 ? b.profile.maxPayloadSize : len;
  // a bridge's publishes never take a route: they must not come back to it (handle_publish.ts)
  const fast = !congested && conn.protocolLevel < 128;
  let o = 0;
  while (o < len) {
    const first = d.charCodeAt(o);
    let next = -1;
    if (rx.inside || conn.state !== CONNECTED) {
      // for the parser
    } else if (first === PUBACK_FIRST || first === PUBREC_FIRST || first === PUBREL_FIRST || first === PUBCOMP_FIRST) {
      // an acknowledgement, framed by its first two bytes: the common steps here, the rest (an
      // unknown id, a wrong state, id 0) through its handler
      if (o + 3 < len && d.charCodeAt(o + 1) === 2) {
        if (warmAcked === undefined) warmAcked = acked;
        if (!warmAcked(b, socks, conn, first, d, o)) {
          if (heldA !== "") flushHeld(socks);
          chunk[0] = d.charCodeAt(o + 2);
          chunk[1] = d.charCodeAt(o + 3);
          b.framedPacket(conn, first, chunk, 0, 2);
        }
        next = o + 4;
      }
    } else if (!fast) {
      // for the parser
    } else if (first === PLAIN_QOS1_PUBLISH || first === PLAIN_QOS2_PUBLISH) {
      if (warmStored === undefined) warmStored = storedOne;
      next = warmStored(b, socks, rx, d, o, limit);
    } else if (first === PLAIN_QOS0_PUBLISH) {
      // what follows writes on its own: what is held goes first
      if (heldA !== "") flushHeld(socks);
      next = stretch(b, socks, rx, d, o, chunk, limit);
    }
    if (next < 0) {
      if (heldA !== "") flushHeld(socks);
      next = parseOne(b, rx, d, o, chunk);
    }
    o = next;
  }
  if (heldA !== "") flushHeld(socks);
}

/**
 * The stretch of plain QoS 0 PUBLISHes of `d` from `o` that go on kept
 * routes, as they came: consecutive ones with the same receivers in one
 * write to each. Returns where the next packet starts (after the one that
 * ended the stretch, given to the parser unless it is an acknowledgement or
 * a QoS 1/2 PUBLISH), or d's length when the rest waits in rx.pend.
 *
 * Its loop is what every such packet of a house costs: a dozen statements,
 * each tens of microseconds here (the last form, with every case inside
 * the loop, ran 26 a packet: 1.8 ms). What it does not take (a first byte
 * other than a plain QoS 0 PUBLISH's, a packet cut at the chunk's end, a
 * topic of 256 bytes or more, a length in more bytes than needed or over
 * two, a route not kept or not the publisher's to write) ends the loop,
 * and past it is the next turn's or the parser's (which keeps a cut packet
 * in rx.pend).
 * Past the end of `d` charCodeAt gives NaN and indexing undefined, and
 * each fails the tests below, so none needs a bounds check of its own.
 */
function stretch(b: Broker, socks: RawSockets, rx: Receiver, d: string, o: number, chunk: Bytes, limit: number): number {
  "ram";
  const len = d.length;
  const acl = rx.conn.acl;
  // routes kept now: parsing a packet may have emptied them
  const routes = b.routes;
  const start = o;
  let from = o; // the run of packets gathered for one write, d[from, o), to `out`
  let out: RouteOut | undefined = undefined;
  let receivers: string | undefined = undefined; // out's: a route without receivers has ""
  let packets = 0;
  let runFirst = 0; // `packets` when the run began
  let heard = 0;
  let sent = 0;
  let sentBytes = 0;
  for (;;) {
    // the remaining length in one byte, or two (the high one 1-127: fewest bytes only, the parser
    // re-encodes the others), the topic's length bytes at `at`
    const low = d.charCodeAt(o + 1);
    const at = low < 128 ? o + 2 : o + 3;
    const end = low < 128 ? at + low : at + low - 128 + d.charCodeAt(o + 2) * 128;
    const headEnd = at + 2 + d.charCodeAt(at + 1);
    // the route's key is the topic with its length bytes (route_cache.ts routeKey). Only the low one
    // is read: a topic of 256 bytes or more (high one h > 0) gives a key of low + 2 bytes starting
    // with h, and every kept key starting with h is 256 * h longer
    const route: Route | undefined = d[o] === PLAIN_QOS0_FIRST_CHAR && headEnd <= end && end <= len &&
      end - headEnd <= limit && (low < 128 || (d.charCodeAt(o + 2) > 0 && d.charCodeAt(o + 2) < 128)) ? routes[d.substring(at, headEnd)] : undefined;
    // the one check kept per publisher (route_cache.ts findRoute): its write ACL
    if (route === undefined || (acl !== undefined && (route.writers === undefined || route.writers.indexOf(acl) < 0))) break;
    let to = route.out as RouteOut | undefined;
    if (to === undefined) to = route.out = outOf(socks, route);
    if (to.receivers !== receivers) {
      // other receivers: the run so far goes to its own
      if (out !== undefined) {
        const copies = writeRun(socks, out, d, from, o);
        sent += (packets - runFirst) * copies;
        sentBytes += (o - from) * copies;
      }
      from = o;
      out = to;
      receivers = to.receivers;
      runFirst = packets;
    }
    heard += to.heard;
    packets++;
    o = end;
  }
  if (packets > 0) {
    const copies = writeRun(socks, out!, d, from, o);
    sent += (packets - runFirst) * copies;
    sentBytes += (o - from) * copies;
    routedRaw(b, rx.conn, packets, heard, sent, sentBytes);
    socks.written += sentBytes;
    // the first two packets alike: a sensor's stream, whose next chunks take the stream path (streamed).
    // learnFrom is cold (a load from Storage): first the sizes all alike and the second's length byte
    // the first's, which a house's chunks of varying readings seldom pass
    if (rx.stream === undefined && packets > 1 && (o - start) % packets === 0 && d[start + (o - start) / packets + 1] === d[start + 1]) {
      learnFrom(rx, d, start, (o - start) / packets, routes);
    }
  }
  if (o >= len) return len;
  const first = d.charCodeAt(o);
  // an acknowledgement or a QoS 1/2 PUBLISH is the next turn's; the rest, cut at the chunk's end or
  // not, the parser's (parseOne keeps a cut packet in rx.pend)
  if ((first >= PUBACK_FIRST && first <= PUBCOMP_FIRST) || first === PLAIN_QOS1_PUBLISH || first === PLAIN_QOS2_PUBLISH) return o;
  return parseOne(b, rx, d, o, chunk);
}

/** Write d[from, o) to each of `out`'s sockets; returns how many. */
function writeRun(socks: RawSockets, out: RouteOut, d: string, from: number, o: number): number {
  const data = from === 0 && o === d.length ? d : d.substring(from, o);
  const outs = out.sockets;
  for (let k = 0; k < outs.length; k++) {
    try {
      outs[k].write(data);
      socks.queue[out.keys[k]] += o - from;
    } catch (e) {
      // closed under us: its 'close' drops the routes
    }
  }
  return outs.length;
}

/**
 * `stretch` took `packets` alike in size from `start`: when the first two
 * also start alike (type, length, topic), keep that shape (learnStream).
 * @cold 40
 */
function learnFrom(rx: Receiver, d: string, start: number, size: number, routes: { [key: string]: Route }): void {
  const at = d.charCodeAt(start + 1) < 128 ? start + 2 : start + 3;
  const headEnd = at + 2 + d.charCodeAt(at + 1);
  const head = d.substring(start, headEnd);
  if (d.substr(start + size, head.length) === head) learnStream(rx, head, size, routes[d.substring(at, headEnd)]);
}

/** The sockets a route's QoS 0 copies go to: its receivers online. */
function outOf(socks: RawSockets, route: Route): RouteOut {
  const out: RouteOut = { sockets: [], keys: [], receivers: "", heard: route.matched > 0 ? 1 : 0, lowest: 2 };
  for (let k = 0; k < route.to.length; k++) {
    if (route.qos[k] < out.lowest) out.lowest = route.qos[k];
    const key = "s" + route.to[k].connId;
    if (socks.socks[key] === undefined) continue; // offline (id -1), or closing
    out.sockets.push(socks.socks[key]);
    out.keys.push(key);
  }
  out.receivers = out.keys.join(",");
  return out;
}

/** Keep what `stretch` saw repeated on `rx`: `head`, the packets' first bytes up to their payload. */
function learnStream(rx: Receiver, head: string, size: number, route: Route): void {
  // the route's key is the topic with its length bytes, after the type and one or two length bytes
  rx.stream = { head: head, size: size, key: head.substring(head.charCodeAt(1) > 127 ? 3 : 2), route: route };
}

/**
 * A chunk of nothing but `rx`'s stream (after what rx.pend held): each
 * packet's head checked by one substr, all of them in one write to each
 * receiver, a last packet cut short kept in rx.pend, counted as routing
 * them would count (routedRaw). Returns false, having touched nothing,
 * when the chunk holds anything else (`receive` takes the chunk; the
 * stream is forgotten when the chunk does not start with it). main.ts
 * calls it before `receive` while a stream is learnt; warm like storedOne
 * (a "ram" function made cold).
 *
 * Only plain QoS 0 packets of one size on a kept route are ever learnt
 * (stretch), so each passes every check its route stands for, and its size
 * the payload limit. Per chunk it runs about twenty statements, each tens
 * of microseconds here, and one call: routedRaw's counting is written out.
 * @cold 30
 */
export function streamed(b: Broker, socks: RawSockets, rx: Receiver, chunk: string): boolean {
  "ram";
  const st = rx.stream!;
  const conn = rx.conn;
  const route = st.route;
  if (b.routes[st.key] !== route || rx.inside || conn.state !== CONNECTED) {
    rx.stream = undefined;
    return false;
  }
  const d = rx.pend === "" ? chunk : rx.pend + chunk;
  const head = st.head;
  const size = st.size;
  const len = d.length;
  let end = 0;
  while (d.substr(end, head.length) === head) end += size;
  // cut: the last packet (its head whole) or the start of its head
  let cut = end > len;
  if (cut) end -= size;
  else cut = end < len && len - end < head.length && head.indexOf(d.substring(end)) === 0;
  if (end < len && !cut) {
    // something else in this chunk: receive takes it whole (one write to each receiver for its
    // run, not one for the stream's part and one for the rest). A chunk that starts with another
    // shape ends the stream (stretch learns the next); one that starts with it keeps it, so that a
    // ping or another topic now and then in a stream does not reload learnFrom from Storage
    if (end === 0) rx.stream = undefined;
    return false;
  }
  const stats = b.stats;
  stats.bytesReceived += chunk.length;
  if (end > 0) {
    const out = route.out as RouteOut;
    const data = end === len ? d : d.substring(0, end);
    const sockets = out.sockets;
    for (let k = 0; k < sockets.length; k++) {
      try {
        sockets[k].write(data);
        socks.queue[out.keys[k]] += end;
      } catch (e) {
        // closed under us: its 'close' drops the routes
      }
    }
    const packets = end / size;
    const copies = packets * sockets.length;
    stats.messagesReceived += packets;
    if (route.matched > 0) stats.publishReceived += packets;
    stats.publishSent += copies;
    stats.messagesSent += copies;
    stats.bytesSent += end * sockets.length;
    conn.lastReceived = b.platform.now();
    socks.written += end * sockets.length;
  }
  rx.pend = cut ? d.substring(end) : "";
  return true;
}

/**
 * The QoS 1 or 2 PUBLISH of `d` at `o` (first byte PLAIN_QOS1_PUBLISH or
 * PLAIN_QOS2_PUBLISH), when its route is kept and every receiver was granted
 * QoS 1 or more: handled here as handlePublish and routePublish handle it
 * for a known route, each copy a string cut from the packet with the
 * receiver's packet id, the window and queue the session's (a receiver
 * whose window is full gets it queued, as deliverStored queues). Anything else (a
 * route not kept, a packet id 0, over the payload limit, a repeated or
 * excess QoS 2 id, a packet cut at the chunk's end) goes to parseOne.
 * Returns where the next packet starts.
 * @cold 10
 */
function storedOne(b: Broker, socks: RawSockets, rx: Receiver, d: string, o: number, limit: number): number {
  "ram";
  const len = d.length;
  const conn = rx.conn;
  // the remaining length in one or two bytes, fewest bytes only
  let size = d.charCodeAt(o + 1);
  let at = o + 2;
  if (size > 127) {
    const high = o + 2 < len ? d.charCodeAt(o + 2) : 0;
    if (high === 0 || high > 127) return -1;
    size = size - 128 + high * 128;
    at = o + 3;
  }
  const end = at + size;
  if (size < 4 || end > len) return -1;
  const idAt = at + 2 + d.charCodeAt(at) * 256 + d.charCodeAt(at + 1);
  if (idAt + 2 > end || end - idAt - 2 > limit) return -1;
  const route = b.routes[d.substring(at, idAt)];
  if (route === undefined) return -1;
  // the one check kept per publisher (route_cache.ts findRoute): its write ACL
  const acl = conn.acl;
  if (acl !== undefined && (route.writers === undefined || route.writers.indexOf(acl) < 0)) return -1;
  if (route.out === undefined) route.out = outOf(socks, route);
  if ((route.out as RouteOut).lowest < 1) return -1;
  const id = d.charCodeAt(idAt) * 256 + d.charCodeAt(idAt + 1);
  if (id === 0) return -1;
  const s = conn.session as Session;
  const qos = d.charCodeAt(o) === PLAIN_QOS1_PUBLISH ? 1 : 2;
  const own = "s" + conn.id;
  const stats = b.stats;
  if (qos === 2) {
    const incoming = s.incomingQos2;
    if (incoming.indexOf(id) >= 0 || incoming.length >= b.profile.maxIncomingQos2) return -1;
    incoming.push(id);
    // PUBREC before the onward PUBLISH, as handlePublish answers
    hold(socks, own, "\x50\x02" + d.substr(idAt, 2));
    stats.messagesSent++;
    stats.bytesSent += 4;
  }
  stats.messagesReceived++;
  conn.lastReceived = b.platform.now();
  const to = route.to;
  if (route.matched > 0) {
    stats.publishReceived++;
    const topicLen = idAt - at - 2;
    const payloadLen = end - idAt - 2;
    let msg: StoredMessage | undefined = undefined;
    const head = d.substring(o + 1, idAt);
    const body = d.substring(idAt + 2, end);
    const window = b.profile.maxInflight;
    for (let k = 0; k < to.length; k++) {
      const r = to[k];
      const q = route.qos[k] < qos ? route.qos[k] : qos;
      if (msg === undefined) {
        // stored once, shared by every receiver (message.ts storeMessage). On the board its bytes are
        // a view of a string cut from the packet (E.toArrayBuffer refers to the string, it copies
        // nothing): a new array filled measured 0.6-1.1 ms on the interpreter, the view 0.15
        const stored = d.substring(at + 2, idAt) + body;
        let data: Bytes;
        if (typeof BOARD_BUILD !== "undefined") data = new Uint8Array(E.toArrayBuffer(stored));
        else {
          data = new Uint8Array(stored.length);
          text.put(stored, data, 0);
        }
        msg = { data: data, topicLen: topicLen, payloadLen: payloadLen, qos: qos, retain: false };
      }
      if (r.connId < 0 || r.queue.length > 0 || r.inflight.length >= window) {
        // deliverStored (deliver.ts) for a receiver that cannot take it now, written out: queued behind
        // what waits (sendQueued or the core's pump sends it), or dropped past the queue's bound.
        // Nothing is written here, so what is held stays held: the sender's PUBACKs go as one
        if (r.queue.length < b.profile.maxQueued) r.queue.push({ msg: msg, qos: q, retain: false });
        else {
          r.dropped++;
          stats.publishDropped++;
        }
        continue;
      }
      // sendNew (deliver.ts) for a copy cut from the packet: same size, the receiver's packet id,
      // the next one when not in flight (Session.allocPacketId written out), else the session's search
      let pid = r.nextPacketId;
      r.nextPacketId = pid >= 65535 ? 1 : pid + 1;
      const flying = r.inflight;
      let f = 0;
      while (f < flying.length && flying[f].packetId !== pid) f++;
      if (f < flying.length) pid = r.allocPacketId();
      flying.push({ msg: msg, packetId: pid, qos: q, retain: false, state: q === 1 ? AWAIT_PUBACK : AWAIT_PUBREC });
      stats.publishSent++;
      stats.messagesSent++;
      stats.bytesSent += end - o;
      hold(socks, "s" + r.connId, String.fromCharCode(0x30 + q * 2) + head + String.fromCharCode(Math.floor(pid / 256), pid % 256) + body);
    }
  }
  if (qos === 1) {
    hold(socks, own, "\x40\x02" + d.substr(idAt, 2));
    stats.messagesSent++;
    stats.bytesSent += 4;
  }
  return end;
}

/**
 * The acknowledgement of `d` at `o` (4 bytes, first byte `first`) as
 * handleAck (handle_acks.ts) takes it when all is in order: a PUBACK or
 * PUBCOMP ending a delivery in the state it awaits (the freed slot to
 * the next queued message, sendQueued, or Broker.drained), a PUBREC for a QoS 2 one
 * awaiting it (answered with PUBREL), a PUBREL for an incoming id held
 * (answered with PUBCOMP). Returns false, having done nothing, for anything
 * else: the handler's to answer or refuse.
 * @cold 20
 */
function acked(b: Broker, socks: RawSockets, conn: Connection, first: number, d: string, o: number): boolean {
  "ram";
  const id = d.charCodeAt(o + 2) * 256 + d.charCodeAt(o + 3);
  const s = conn.session as Session;
  const stats = b.stats;
  if (first === PUBREL_FIRST) {
    const at = s.incomingQos2.indexOf(id);
    // id 0 is never held (storedOne and handlePublish refuse it): the handler finds it malformed
    if (at < 0) return false;
    s.incomingQos2.splice(at, 1);
    hold(socks, "s" + conn.id, "\x70\x02" + d.substr(o + 2, 2));
  } else {
    const list = s.inflight;
    let i = 0;
    while (i < list.length && list[i].packetId !== id) i++;
    if (i === list.length) return false; // unknown, id 0 among them: the handler's
    const f = list[i];
    if (first === PUBREC_FIRST) {
      if (f.state !== AWAIT_PUBREC) return false;
      f.state = AWAIT_PUBCOMP;
      hold(socks, "s" + conn.id, "\x62\x02" + d.substr(o + 2, 2));
    } else {
      if (f.state !== (first === PUBACK_FIRST ? AWAIT_PUBACK : AWAIT_PUBCOMP)) return false;
      list.splice(i, 1);
    }
  }
  stats.messagesReceived++;
  conn.lastReceived = b.platform.now();
  if (first === PUBREL_FIRST || first === PUBREC_FIRST) {
    stats.messagesSent++;
    stats.bytesSent += 4;
  } else if (s.replays === undefined && s.acl === undefined) {
    // a freed slot in the window: the next queued message, here (what a receiver slower than its
    // sender is sent; the core's pump is a dozen calls from flash)
    if (s.queue.length > 0) sendQueued(b, socks, conn, s);
  } else {
    // a paused retained replay, or a read ACL each message must pass: the core's
    flushHeld(socks);
    b.drained(conn.id);
  }
  return true;
}

/**
 * pump (deliver.ts) for a window `acked` opened, on a session without a
 * read ACL or a paused replay: each queued message's PUBLISH made as a
 * string from its stored bytes (one native call) and held with the chunk's
 * other writes. One whose remaining length needs more than two bytes goes
 * to the core's pump, as does everything queued behind it.
 */
function sendQueued(b: Broker, socks: RawSockets, conn: Connection, s: Session): void {
  "ram";
  const q = s.queue;
  const flying = s.inflight;
  const key = "s" + conn.id;
  const stats = b.stats;
  while (q.length > 0 && flying.length < b.profile.maxInflight) {
    const next = q[0];
    const msg = next.msg;
    const topicLen = msg.topicLen;
    const size = 4 + topicLen + msg.payloadLen;
    if (size > 16383) {
      flushHeld(socks);
      b.drained(conn.id);
      return;
    }
    q.shift();
    // Session.allocPacketId written out, as in storedOne
    let pid = s.nextPacketId;
    s.nextPacketId = pid >= 65535 ? 1 : pid + 1;
    let f = 0;
    while (f < flying.length && flying[f].packetId !== pid) f++;
    if (f < flying.length) pid = s.allocPacketId();
    flying.push({ msg: msg, packetId: pid, qos: next.qos, retain: next.retain, state: next.qos === 1 ? AWAIT_PUBACK : AWAIT_PUBREC });
    const stored = text.str(msg.data, 0, topicLen + msg.payloadLen);
    stats.publishSent++;
    stats.messagesSent++;
    stats.bytesSent += size < 128 ? size + 2 : size + 3;
    hold(socks, key, String.fromCharCode(0x30 + next.qos * 2 + (next.retain ? 1 : 0)) +
      (size < 128 ? String.fromCharCode(size) : String.fromCharCode(size % 128 + 128, Math.floor(size / 128))) +
      String.fromCharCode(Math.floor(topicLen / 256), topicLen % 256) + stored.substring(0, topicLen) +
      String.fromCharCode(Math.floor(pid / 256), pid % 256) + stored.substring(topicLen));
  }
}

/** Write `data` to the socket of `key`, counting it queued; a socket closed under us is left to its 'close'. */
function writeRaw(socks: RawSockets, key: string, data: string): void {
  const sock = socks.socks[key];
  if (sock === undefined) return;
  try {
    sock.write(data);
    socks.queue[key] += data.length;
    socks.written += data.length;
  } catch (e) {
    // closed under us: its 'close' drops the routes
  }
}

/**
 * The packet of `d` at `o`, which the fast path does not take, framed (one
 * to four length bytes) and given whole to its handler (Broker.framedPacket)
 * through `chunk` (Espruino's Uint8Array.set takes a binary string), or, when
 * larger than a chunk or read before CONNECT is done, to the parser a piece
 * at a time.
 * Returns where the next one starts, or d's length when nothing more is to
 * be read now (the rest went to the parser as it came, waits in rx.pend, or
 * the connection closed).
 */
function parseOne(b: Broker, rx: Receiver, d: string, o: number, chunk: Bytes): number {
  const len = d.length;
  const conn = rx.conn;
  const max = chunk.length;
  let to = len; // what goes to the parser: d[o, to)
  if (conn.state !== CONNECTED && d.charCodeAt(o) !== CONNECT * 16) {
    // before CONNECT, bytes that do not start one go to the parser as they come: it closes at once
    // (an HTTP request), where framing here would wait for the length they claim. A CONNECT is
    // framed like any packet below: the reader's loop over its bytes cost 4 ms of an answer
  } else if (rx.inside) {
    // the parser is inside a packet: give it the rest of that one first
    const awaiting = conn.reader.awaiting();
    if (awaiting > 0 && awaiting <= len - o) to = o + awaiting;
  } else {
    // the fixed header: type byte, then one to four length bytes [MQTT-2.2.3]; one, the usual case,
    // without the loop (each of its statements costs tens of microseconds here)
    let size = o + 1 < len ? d.charCodeAt(o + 1) : 128;
    let i = o + 2;
    let framed = size < 128;
    if (!framed) {
      size = 0;
      i = o + 1;
      let mul = 1;
      while (i < len && i <= o + 4) {
        const c = d.charCodeAt(i++);
        size += (c % 128) * mul;
        mul *= 128;
        if (c < 128) {
          framed = true;
          break;
        }
      }
    }
    // a fifth length byte goes to the parser, which closes the connection; a packet larger than a
    // chunk too, which it gathers (and limits); a cut one waits for the rest
    if (framed && i + size <= len) {
      to = i + size;
      if (to - o <= max) {
        // whole and within a chunk: to its handler past the reader, whose loop over the header
        // costs a few milliseconds a packet here (Broker.framedPacket)
        (chunk as any).set(o === 0 && to === len ? d : d.substring(o, to), 0);
        b.framedPacket(conn, chunk[0], chunk, i - o, size);
        return conn.state === CONNECTED ? to : len;
      }
    } else if (framed ? i + size - o <= max : i <= o + 4) {
      rx.pend = d.substr(o);
      return len;
    }
  }
  // the bytes were counted when they arrived: Broker.data counts them again
  for (let off = o; off < to; off += max) {
    if (conn.state === CLOSED) return len; // closed by an earlier piece: the rest is counted, not read
    const n = to - off < max ? to - off : max;
    (chunk as any).set(off === 0 && n === len ? d : d.substr(off, n), 0);
    b.stats.bytesReceived -= n;
    b.data(conn.id, chunk, 0, n);
  }
  rx.inside = conn.reader.awaiting() !== 0;
  return conn.state === CONNECTED ? to : len; // closed by what it sent: the rest is not read
}
