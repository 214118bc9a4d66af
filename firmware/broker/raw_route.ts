import { writeRemainingLength } from "../codec/encode";
import { STATE_BODY, STATE_HEADER } from "../codec/reader";
import { Bytes } from "../platform";
import { bytesToString } from "../topics/validate";
import type { Broker } from "./broker";
import { CLOSED, CONNECTED, Connection } from "./connection";

/**
 * What routing one QoS 0 PUBLISH did, kept so that an adapter can forward the
 * same again without parsing it. On Espruino parsing and routing a PUBLISH
 * costs milliseconds of interpreted code, comparing two strings a few
 * microseconds of native code: a sensor streaming to one topic is the
 * common case, and the Espruino adapter forwards runs of such packets whole.
 *
 * Why the shortcut is exact: a packet that starts with the same bytes (fixed
 * header, which holds the length, then the topic) as one routed from the same
 * connection is a QoS 0, non-retained PUBLISH of the same length to the same
 * topic. Every check on it (topic, size, ACL) depends on nothing else, and
 * who receives it changes only with a CONNECT, SUBSCRIBE, UNSUBSCRIBE or a
 * connection ending, each of which moves Broker.routeGen on. Receivers get a
 * QoS 0 copy with retain clear, which is the packet as received.
 */
export interface RawRoute {
  /** Broker.routeGen when recorded: any other value means routing may have changed. */
  gen: number;
  /** The packet's fixed header and topic, one character a byte. */
  head: string;
  /** The whole packet's length. */
  size: number;
  /** Connection ids it went to. */
  ids: number[];
  /** It had matching subscriptions (counted as a publish received). */
  matched: boolean;
}

/**
 * Keep what routing the PUBLISH at buf[off, off + len) (its body) did, for
 * the connection the adapter asked about (Broker.routeWanted). `ids` are the
 * connections routePublish sent it to as received.
 */
export function recordRoute(b: Broker, buf: Bytes, off: number, len: number, topicLen: number, ids: number[], matched: boolean): void {
  let tx = b.tx;
  tx[0] = 0x30;
  let headerLen = 1 + writeRemainingLength(tx, 1, len);
  // a literal, not a class: on Espruino a class's constructor is resident for good
  b.recorded = {
    gen: b.routeGen,
    head: bytesToString(tx, 0, headerLen) + bytesToString(buf, off, 2 + topicLen),
    size: headerLen + len,
    ids: ids.slice(0),
    matched: matched,
  };
  ids.splice(0, ids.length); // Espruino refuses an assignment to length
  b.routeWanted = -1;
}

/** rawState: the route may be used, and the parser is between packets. */
export const RAW_READY = 0;
/** rawState: the parser is between packets, but there is no usable route. */
export const RAW_NO_ROUTE = -2;
/** rawState: the parser is inside a fixed header, or the connection is gone. */
export const RAW_PARSER_BUSY = -1;

/**
 * One look at a connection per chunk: RAW_READY, RAW_NO_ROUTE,
 * RAW_PARSER_BUSY, or (above 0) the bytes that finish the packet its parser
 * is gathering. A route is usable while routing is unchanged and its
 * connection is still up.
 */
export function rawState(b: Broker, conn: Connection, route: RawRoute | undefined): number {
  if (conn.state === CLOSED) return RAW_PARSER_BUSY;
  let r = conn.reader;
  if (r.state !== STATE_HEADER) return r.state === STATE_BODY ? r.remaining - r.have : RAW_PARSER_BUSY;
  return route !== undefined && route.gen === b.routeGen && conn.state === CONNECTED ? RAW_READY : RAW_NO_ROUTE;
}

/**
 * The adapter forwarded `count` packets of `route` from `conn` as
 * they came: count them, and the publisher's keepalive, as routing would have.
 */
export function routedRaw(b: Broker, conn: Connection, route: RawRoute, count: number): void {
  let stats = b.stats;
  let sent = count * route.ids.length;
  stats.messagesReceived += count;
  stats.bytesReceived += count * route.size;
  if (route.matched) stats.publishReceived += count;
  stats.publishSent += sent;
  stats.messagesSent += sent;
  stats.bytesSent += sent * route.size;
  conn.lastReceived = b.platform.now();
}
