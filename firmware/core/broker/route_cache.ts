import { AclRule } from "../auth/types";
import { Session } from "../session/session";
import type { BrokerState, Route } from "./state";
import type { Connection } from "./connection";

/**
 * What routing a PUBLISH to one topic decided, kept per topic so the next
 * PUBLISH there skips the work: on Espruino checking a topic and matching
 * it against every filter costs milliseconds of interpreted code, a lookup
 * by string key microseconds of native code.
 *
 * Why it is exact: every check on a PUBLISH but its payload size (UTF-8,
 * wildcards, topic limits, `$`, the publisher's write ACL) and who receives
 * it (the subscriptions, their QoS, each receiver's read ACL, who is
 * online) depend on the topic and on nothing that can change without a
 * CONNECT, SUBSCRIBE, UNSUBSCRIBE or a connection ending, and each of those
 * empties Broker.routes. Only what depends on the
 * packet stays per packet: its QoS (each receiver gets the lower of it and
 * the route's), its payload size, and packet ids and acks, per session.
 *
 * Bounded by the profile's maxRoutes; full, the table starts again empty.
 * Off (maxRoutes 0) on the desktop, where the checks cost less than making
 * the key, and with a bridge, which must see every message.
 */

/**
 * The route of every topic nobody subscribes to, shared: a house has more
 * topics than listeners, and each kept route costs a board a dozen JsVars.
 * Never given writers (keepRoute replaces it for a publisher with an ACL).
 */
let unheard: Route | undefined = undefined;

/**
 * A topic's key in Broker.routes: the topic after its two length bytes, as
 * a PUBLISH carries it, so the key is cut straight from the packet (and no
 * topic collides with a property every object has: the first byte is 0 for
 * any topic shorter than 256 bytes, and never 0xFF, Espruino's mark of its
 * hidden properties, under the 65,280 bytes no profile allows). Made here
 * for tests; the broker cuts it from the packet.
 */
export function routeKey(topic: string): string {
  let n = topic.length;
  return String.fromCharCode(Math.floor(n / 256), n % 256) + topic;
}

/**
 * The route a PUBLISH from `conn` to the topic of `key` (routeKey) takes,
 * when it is known and the publisher may write there; undefined otherwise
 * (the packet then goes through every check, and its route is kept).
 */
export function findRoute(b: BrokerState, conn: Connection, key: string): Route | undefined {
  let r = b.routes[key];
  // a bridge's publishes never take one: they must not come back to it (handle_publish.ts)
  if (r === undefined || conn.protocolLevel > 127) return undefined;
  let acl = conn.acl;
  if (acl === undefined) return r;
  let w = r.writers;
  if (w !== undefined) for (let i = 0; i < w.length; i++) if (w[i] === acl) return r;
  return undefined;
}

/**
 * Keep `route` (a literal routePublish filled: on Espruino a class's
 * constructor stays resident) for the topic of `key` (routeKey), as found
 * allowed for `conn` to write.
 */
export function keepRoute(b: BrokerState, conn: Connection, key: string, route: Route): void {
  let known = b.routes[key];
  if (known !== undefined && known === unheard && conn.acl !== undefined) {
    // the shared route takes no writers: this topic gets one of its own
    b.routes[key] = route;
    route.writers = [conn.acl];
    return;
  }
  if (known !== undefined) {
    // known, but not yet for this publisher's ACL
    if (conn.acl !== undefined) {
      if (known.writers === undefined) known.writers = [];
      if (known.writers.length < b.profile.maxClients) known.writers.push(conn.acl);
    }
    return;
  }
  if (b.routeCount >= b.profile.maxRoutes) {
    b.routes = {};
    b.routeCount = 0;
  }
  if (conn.acl !== undefined) route.writers = [conn.acl];
  else if (route.matched === 0) {
    // made at first use: an idle board holds none
    if (unheard === undefined) unheard = route;
    route = unheard;
  }
  b.routes[key] = route;
  b.routeCount++;
}

/**
 * The adapter forwarded `packets` QoS 0 packets from `conn` itself, as
 * they came, `heard` of them on routes somebody subscribes to: `sent`
 * copies, `sentBytes` in all. Count them, and the publisher's keepalive,
 * as routing them would have.
 */
export function routedRaw(b: BrokerState, conn: Connection, packets: number, heard: number, sent: number, sentBytes: number): void {
  let stats = b.stats;
  // (their bytes the adapter counts as received when they arrive, as Broker.data does)
  stats.messagesReceived += packets;
  stats.publishReceived += heard;
  stats.publishSent += sent;
  stats.messagesSent += sent;
  stats.bytesSent += sentBytes;
  conn.lastReceived = b.platform.now();
}
