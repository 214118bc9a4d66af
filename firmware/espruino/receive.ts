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
import { Route, routedRaw } from "../broker/route_cache";
import { Bytes } from "../platform";

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
}

/** First byte of a QoS 0 PUBLISH with DUP and RETAIN clear: what a receiver gets as it is. */
const PLAIN_QOS0_PUBLISH = 0x30;
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
 * "ram" has Espruino keep its text in RAM (about 75 JsVars), read several
 * times faster than from flash: the same-topic stream 1.4x (measured).
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
  const max = chunk.length;
  const acl = conn.acl;
  // the payload limit: a packet over it is the parser's to drop
  const limit = b.profile.maxPayloadSize > 0 ? b.profile.maxPayloadSize : len;
  // a bridge's publishes never take a route: they must not come back to it (handle_publish.ts)
  const fast = !congested && conn.protocolLevel < 128;
  let o = 0;
  while (o < len) {
    if (rx.inside || conn.state !== CONNECTED) {
      o = parseOne(b, rx, d, o, chunk);
      continue;
    }
    let first = d.charCodeAt(o);
    if (o + 3 < len && d.charCodeAt(o + 1) === 2 && (first === PUBACK_FIRST || first === PUBREC_FIRST || first === PUBREL_FIRST || first === PUBCOMP_FIRST)) {
      // an acknowledgement, framed by its first two bytes: its packet id to the handler
      chunk[0] = d.charCodeAt(o + 2);
      chunk[1] = d.charCodeAt(o + 3);
      b.framedPacket(conn, first, chunk, 0, 2);
      o += 4;
      continue;
    }
    if (!fast || first !== PLAIN_QOS0_PUBLISH) {
      o = parseOne(b, rx, d, o, chunk);
      continue;
    }
    // routes kept now: parsing a packet may have emptied them
    const routes = b.routes;
    let from = o; // the run of packets gathered for one write: d[from, o), `run` of them to `out`
    let run = 0;
    let out: RouteOut | undefined = undefined;
    let packets = 0;
    let heard = 0;
    let sent = 0;
    let sentBytes = 0;
    let cut = false;
    // per packet, as few operations as will do: each costs tens of microseconds on the interpreter
    for (;;) {
      let to: RouteOut | undefined = undefined;
      let route: Route | undefined = undefined;
      let end = 0;
      let headEnd = 0; // where its topic ends
      let sizeByte = 0;
      if (o + 1 >= len) cut = o < len; // only a first byte: wait for its length
      else if (d.charCodeAt(o) === PLAIN_QOS0_PUBLISH) {
        // the remaining length in one or two bytes, fewest bytes only: the parser re-encodes the others
        sizeByte = d.charCodeAt(o + 1);
        let size = sizeByte;
        let at = o + 2;
        if (size > 127) {
          const high = o + 2 < len ? d.charCodeAt(o + 2) : -1;
          size = high > 0 && high < 128 ? size - 128 + high * 128 : -1;
          at = o + 3;
          cut = high < 0;
        }
        end = at + size;
        if (size < 2) {
          // cut, or for the parser
        } else if (end > len) cut = end - o <= max;
        else {
          headEnd = at + 2 + d.charCodeAt(at) * 256 + d.charCodeAt(at + 1);
          // the route's key is the topic with its length bytes (route_cache.ts routeKey)
          if (headEnd <= end && end - headEnd <= limit) route = routes[d.substring(at, headEnd)];
          if (route !== undefined) {
            // the one check kept per publisher (route_cache.ts findRoute): its write ACL
            if (acl !== undefined && (route.writers === undefined || route.writers.indexOf(acl) < 0)) route = undefined;
            else {
              if (route.out === undefined) route.out = outOf(socks, route);
              to = route.out as RouteOut;
            }
          }
        }
      }
      if (run > 0 && (to === undefined || to.receivers !== out!.receivers)) {
        // the run ends: one write of it to each of its receivers
        const data = from === 0 && o === len ? d : d.substring(from, o);
        const outs = out!.sockets;
        for (let k = 0; k < outs.length; k++) {
          try {
            outs[k].write(data);
            socks.queue[out!.keys[k]] += o - from;
          } catch (e) {
            // closed under us: its 'close' drops the routes
          }
        }
        packets += run;
        sent += run * outs.length;
        sentBytes += (o - from) * outs.length;
        run = 0;
      }
      if (to === undefined) break;
      if (run === 0) {
        from = o;
        out = to;
      }
      // the packets right behind it that start with the same bytes (same length, same topic) take
      // it too, found by one indexOf each: a stream from one sensor costs little more than its bytes
      let count = 1;
      if (d.charCodeAt(end + 1) === sizeByte) {
        const packet = end - o;
        const head = d.substring(o, headEnd);
        const start = end;
        while (d.indexOf(head, end) === end) end += packet;
        if (end > len) end -= packet; // the last one is cut
        count += (end - start) / packet;
      }
      run += count;
      if (route!.matched > 0) heard += count;
      o = end;
    }
    if (packets > 0) {
      routedRaw(b, conn, packets, heard, sent, sentBytes);
      socks.written += sentBytes;
    }
    if (cut) {
      rx.pend = d.substr(o);
      return;
    }
    // the packet that ended the stretch: an acknowledgement is the next turn's, the rest the parser's
    first = d.charCodeAt(o);
    if (o < len && !(first >= PUBACK_FIRST && first <= PUBCOMP_FIRST)) o = parseOne(b, rx, d, o, chunk);
  }
}

/** The sockets a route's QoS 0 copies go to: its receivers online. */
function outOf(socks: RawSockets, route: Route): RouteOut {
  const out: RouteOut = { sockets: [], keys: [], receivers: "" };
  for (let k = 0; k < route.to.length; k++) {
    const key = "s" + route.to[k].connId;
    if (socks.socks[key] === undefined) continue; // offline (id -1), or closing
    out.sockets.push(socks.socks[key]);
    out.keys.push(key);
  }
  out.receivers = out.keys.join(",");
  return out;
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
  if (conn.state !== CONNECTED) {
    // before CONNECT, bytes go to the parser as they come: it closes at a first byte that cannot
    // start a CONNECT (an HTTP request), where framing here would wait for the length it claims
  } else if (rx.inside) {
    // the parser is inside a packet: give it the rest of that one first
    const awaiting = conn.reader.awaiting();
    if (awaiting > 0 && awaiting <= len - o) to = o + awaiting;
  } else {
    // the fixed header: type byte, then one to four length bytes [MQTT-2.2.3]
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
