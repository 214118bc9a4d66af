/**
 * Socket data in, on Espruino. A QoS 0 PUBLISH to a topic whose route the
 * core keeps (broker/route_cache.ts) goes from the binary string Espruino
 * handed over straight to its receivers' sockets: framed with charCodeAt,
 * its topic cut with substr, looked up by key, written on. Everything else
 * goes through the parser. Kept apart from main.ts so that the desktop tests
 * run this same code against the parser alone
 * (test/unit/espruino-receive.test.ts).
 */
import type { Broker } from "../broker/broker";
import { CLOSED, CONNECTED, Connection } from "../broker/connection";
import { findRoute, Route, routedRaw } from "../broker/route_cache";
import { Bytes } from "../platform";

/** What the fast path needs of the transport: sockets by "s" + id, and what each has queued. */
export interface RawSockets {
  socks: { [key: string]: any };
  queue: { [key: string]: number };
}

/** Per connection: the connection, and a packet cut at a chunk's end, waiting for the rest. */
export interface Receiver {
  conn: Connection;
  pend: string;
}

/** First byte of a QoS 0 PUBLISH with DUP and RETAIN clear: what a receiver gets as it is. */
const PLAIN_QOS0_PUBLISH = 0x30;

/**
 * Bytes `d` (a binary string) arrived on `rx`'s connection. Packets are
 * framed here from their fixed headers. A plain QoS 0 PUBLISH with a kept
 * route goes as it came to the route's receivers, together with the packets
 * right behind it that start with the same bytes (same length, same
 * topic): one write each. Any other packet goes whole through `chunk` (the
 * shared receive buffer) into the parser, which keeps the routes. A packet
 * cut at the end waits in `rx.pend` (up to a chunk's size; a larger one is
 * gathered by the parser, within its limit). While `congested`, no packet
 * takes the fast path: the parser's way drops QoS 0 for a full queue.
 */
export function receive(b: Broker, socks: RawSockets, rx: Receiver, d: string, chunk: Bytes, congested: boolean): void {
  // bytes count as received when they arrive, as the parser counts them (toParser takes them back
  // out before Broker.data counts them again)
  b.stats.bytesReceived += d.length;
  if (rx.pend !== "") {
    d = rx.pend + d;
    rx.pend = "";
  }
  const len = d.length;
  const conn = rx.conn;
  // before CONNECT, bytes go to the parser as they come: it closes at a first byte that cannot
  // start a CONNECT (an HTTP request), where framing here would wait for the length it claims
  if (conn.state !== CONNECTED) return toParser(b, conn, d, 0, len, chunk);
  let o = 0;
  const awaiting = conn.reader.awaiting();
  if (awaiting !== 0) {
    // the parser is inside a packet: give it the rest of that one first
    o = awaiting < 0 || awaiting > len ? len : awaiting;
    toParser(b, conn, d, 0, o, chunk);
    if (o === len || conn.state !== CONNECTED || conn.reader.awaiting() !== 0) return;
  }
  while (o < len) {
    // frame the next packet: type byte, then one to four length bytes [MQTT-2.2.3]
    let size = 0;
    let mul = 1;
    let i = o + 1;
    let framed = false;
    while (i < len && i <= o + 4) {
      const c = d.charCodeAt(i++);
      size += (c % 128) * mul;
      mul *= 128;
      if (c < 128) {
        framed = true;
        break;
      }
    }
    if (!framed) {
      if (i <= o + 4) rx.pend = d.substr(o); // the fixed header itself is cut
      else toParser(b, conn, d, o, len, chunk); // a fifth length byte: the parser closes the connection
      return;
    }
    let end = i + size;
    if (end > len) {
      // cut: wait for the rest, or let the parser gather (and limit) a packet larger than a chunk
      if (end - o <= chunk.length) rx.pend = d.substr(o);
      else toParser(b, conn, d, o, len, chunk);
      return;
    }
    let route: Route | undefined = undefined;
    let topicLen = size >= 2 ? d.charCodeAt(i) * 256 + d.charCodeAt(i + 1) : size;
    // only a length in the fewest bytes goes on as it came: the parser sends the others re-encoded
    if (!congested && d.charCodeAt(o) === PLAIN_QOS0_PUBLISH && 2 + topicLen <= size && i - o - 1 === (size < 128 ? 1 : 2)) {
      route = findRoute(b, conn, d.substr(i + 2, topicLen));
      // the one check left per packet (route_cache.ts): a payload over the limit is the parser's to drop
      const limit = b.profile.maxPayloadSize;
      if (limit > 0 && size - 2 - topicLen > limit) route = undefined;
    }
    if (route === undefined) {
      toParser(b, conn, d, o, end, chunk);
      if (conn.state !== CONNECTED) return; // closed by what it sent
      o = end;
      continue;
    }
    // the packets right behind it that start with the same bytes (same length, same topic) take it too
    const head = d.substring(o, i + 2 + topicLen);
    const packet = end - o;
    let count = 1;
    while (end + packet <= len && d.indexOf(head, end) === end) {
      end += packet;
      count++;
    }
    const data = o === 0 && end === len ? d : d.substring(o, end);
    let out = route.out as any[] | undefined;
    if (out === undefined) {
      // the sockets its QoS 0 copies go to (its receivers online), with their queue keys: looked
      // up once per route, as a socket closing drops every route
      out = route.out = [[], []];
      for (let k = 0; k < route.to.length; k++) {
        const key = "s" + route.to[k].connId;
        if (socks.socks[key] === undefined) continue; // offline (id -1), or closing
        out[0].push(socks.socks[key]);
        out[1].push(key);
      }
    }
    const outs = out[0];
    const keys = out[1];
    for (let k = 0; k < outs.length; k++) {
      try {
        outs[k].write(data);
        socks.queue[keys[k]] += end - o;
      } catch (e) {
        // closed under us: its 'close' drops the route
      }
    }
    routedRaw(b, conn, route, count, end - o, outs.length);
    o = end;
  }
}

/**
 * d[from, to) into the parser, a chunk at a time (Espruino's Uint8Array.set
 * takes a binary string). receive() counted these bytes when they arrived.
 */
function toParser(b: Broker, conn: Connection, d: string, from: number, to: number, chunk: Bytes): void {
  const max = chunk.length;
  for (let off = from; off < to; off += max) {
    if (conn.state === CLOSED) return; // closed by an earlier piece: the rest is counted, not read
    const n = to - off < max ? to - off : max;
    (chunk as any).set(off === 0 && n === d.length ? d : d.substr(off, n), 0);
    b.stats.bytesReceived -= n;
    b.data(conn.id, chunk, 0, n);
  }
}
