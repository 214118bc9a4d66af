/**
 * Socket data in, on Espruino: the fast path for a publisher's repeated QoS 0
 * stream (broker/raw_route.ts), then the parser for the rest. Kept apart
 * from main.ts so that the desktop tests run this same code against the
 * parser alone (test/unit/espruino-receive.test.ts).
 */
import type { Broker } from "../broker/broker";
import { AWAIT_CONNECT, Connection } from "../broker/connection";
import { RAW_PARSER_BUSY, RAW_READY, RawRoute, rawState, routedRaw } from "../broker/raw_route";
import { Bytes } from "../platform";

/** What the fast path needs of the transport: sockets by "s" + id, and what each has queued. */
export interface RawSockets {
  socks: { [key: string]: any };
  queue: { [key: string]: number };
}

/**
 * Per connection: its last QoS 0 route with the sockets it goes to (looked
 * up once: a socket closing moves Broker.routeGen on, which retires the
 * route), and a packet cut at a chunk's end that may belong to it.
 */
export interface Receiver {
  conn: Connection;
  route: RawRoute | undefined;
  outs: any[];
  keys: string[];
  pend: string;
}

/**
 * Bytes `d` (a binary string) arrived on `rx`'s connection. Packets are framed
 * here from their fixed headers: a run of packets that start as the route's
 * goes to its receivers in one write each; any other packet goes whole
 * through `chunk` (the shared receive buffer) into the parser, which may
 * record a new route. A packet cut at the end waits in `rx.pend` (up to a
 * chunk's size; a larger one is gathered by the parser, within its limit).
 * While `congested`, no packet takes the fast path: the parser's way drops
 * QoS 0 for a full queue.
 */
export function receive(b: Broker, socks: RawSockets, rx: Receiver, d: string, chunk: Bytes, congested: boolean): void {
  if (rx.pend !== "") {
    d = rx.pend + d;
    rx.pend = "";
  }
  let len = d.length;
  let o = 0;
  let r = rx.route;
  const conn = rx.conn;
  const id = conn.id;
  if (conn.state === AWAIT_CONNECT) {
    // before CONNECT, bytes go to the parser as they come: it closes at a first byte that cannot
    // start a CONNECT (an HTTP request), where framing here would wait for the length it claims
    toParser(b, id, d, 0, len, chunk);
    return;
  }
  let state = rawState(b, conn, r);
  if (state === RAW_PARSER_BUSY || state > 0) {
    // the parser is gathering a packet (larger than a chunk): give it the rest of that one first
    o = state < 0 || state > len ? len : state;
    toParser(b, id, d, 0, o, chunk);
    if (o === len) return;
    state = rawState(b, conn, r);
  }
  let usable = state === RAW_READY && !congested;
  while (o < len) {
    if (usable) {
      const to = scanRun(d, o, len, r!.size, r!.head);
      if (to > o) {
        // forward the run whole to each receiver, and count it as routing would have
        const data = o === 0 && to === len ? d : d.substring(o, to);
        const outs = rx.outs;
        for (let k = 0; k < outs.length; k++) {
          try {
            outs[k].write(data);
            socks.queue[rx.keys[k]] += to - o;
          } catch (e) {
            // closed under us: its 'close' retires the route
          }
        }
        routedRaw(b, conn, r!, (to - o) / r!.size);
        o = to;
        if (o === len) return;
      }
    }
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
      else toParser(b, id, d, o, len, chunk); // a fifth length byte: the parser closes the connection
      return;
    }
    const end = i + size;
    if (end > len) {
      // cut: wait for the rest, or let the parser gather (and limit) a packet larger than a chunk
      if (end - o <= chunk.length) rx.pend = d.substr(o);
      else toParser(b, id, d, o, len, chunk);
      return;
    }
    b.routeWanted = id;
    toParser(b, id, d, o, end, chunk);
    b.routeWanted = -1;
    o = end;
    const rec = b.recorded;
    if (rec !== undefined) {
      // a new route: look up its receivers' sockets once
      b.recorded = undefined;
      rx.route = rec;
      rx.outs = [];
      rx.keys = [];
      for (let k = 0; k < rec.ids.length; k++) {
        const key = "s" + rec.ids[k];
        if (socks.socks[key] === undefined) continue;
        rx.outs.push(socks.socks[key]);
        rx.keys.push(key);
      }
    }
    r = rx.route;
    state = rawState(b, conn, r);
    if (state === RAW_PARSER_BUSY) return; // closed by what it sent
    usable = state === RAW_READY && !congested;
  }
}

/**
 * Where a run of the route's packets that starts at `o` ends. The loop every
 * forwarded packet passes: "ram" has Espruino run it from RAM (a few JsVars)
 * instead of from flash, which is slower to read.
 */
function scanRun(d: string, o: number, len: number, size: number, head: string): number {
  "ram";
  while (o + size <= len && d.indexOf(head, o) === o) o += size;
  return o;
}

/** d[from, to) into the parser, a chunk at a time (Espruino's Uint8Array.set takes a binary string). */
function toParser(b: Broker, id: number, d: string, from: number, to: number, chunk: Bytes): void {
  const max = chunk.length;
  for (let off = from; off < to; off += max) {
    const n = to - off < max ? to - off : max;
    (chunk as any).set(off === 0 && n === d.length ? d : d.substr(off, n), 0);
    b.data(id, chunk, 0, n);
  }
}
