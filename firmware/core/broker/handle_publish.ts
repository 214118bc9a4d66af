import { aclAllowsTopic } from "../auth/acl";
import { ACCESS_WRITE } from "../auth/types";
import { ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, PUBACK, PUBREC } from "../codec/constants";
import { readU16 } from "../codec/cursor";
import { encodeAck } from "../codec/encode";
import { validUtf8 } from "../codec/utf8";
import { Bytes } from "../platform";
import type { BrokerState } from "./state";
import type { Connection } from "./connection";
import { retainMessage, routePublish } from "./deliver";
import { findRoute, keepRoute } from "./route_cache";
import { Route } from "./state";
import { text } from "../codec/text";

const DOLLAR = 36;
const SLASH = 47;
const PLUS = 43;
const HASH = 35;

/**
 * PUBLISH from a client [MQTT-3.3]. A message the broker will not take (ACL,
 * `$` topics, over a limit) is dropped but still acknowledged, so a QoS 1/2
 * publisher does not resend it forever (mosquitto does the same). A topic
 * whose route is kept (route_cache.ts) skips the checks that depend on the
 * topic alone, and the matching.
 */
export function handlePublish(b: BrokerState, conn: Connection, flags: number, buf: Bytes, off: number, len: number): number {
  let qos = Math.floor(flags / 2) % 4;
  let retain = flags % 2 === 1;
  let dup = flags >= 8;
  if (qos === 3) return ERR_MALFORMED; // [MQTT-3.3.1-4]
  if (qos === 0 && dup) return ERR_MALFORMED; // [MQTT-3.3.1-2]
  let end = off + len;
  // the topic's length, then whether the topic fits: readStringLength reads the length twice, which
  // on this path cost the desktop's QoS 1 bench 5-10% (npm run bench, measured against this)
  let topicLen = readU16(buf, off, end);
  if (topicLen < 0 || off + 2 + topicLen > end) return ERR_MALFORMED;
  let topicOff = off + 2;
  let p = topicOff + topicLen;
  // routes are kept where the profile asks, and never for a bridge (which must see every message)
  let key: string | undefined = undefined;
  let route: Route | undefined = undefined;
  if (b.profile.maxRoutes > 0 && b.bridgeOut === undefined && conn.protocolLevel < 128) {
    // its key: the topic with the two length bytes before it (route_cache.ts routeKey)
    key = text.str(buf, off, topicLen + 2);
    route = findRoute(b, conn, key);
  }
  if (route === undefined) {
    // printable ASCII first, one native call on Espruino; the full check (cold there) for the rest
    if (!text.printable(buf, topicOff, topicLen) && !validUtf8(buf, topicOff, topicLen)) return ERR_MALFORMED; // [MQTT-3.3.2-1]
    // no wildcards in a name [MQTT-3.3.2-2], and not empty [MQTT-4.7.3-1] (topics/validate.ts, written
    // out: on Espruino every resident function costs JsVars)
    if (topicLen === 0 || text.count(buf, topicOff, topicLen, PLUS) > 0 || text.count(buf, topicOff, topicLen, HASH) > 0) return ERR_PROTOCOL;
  }
  let packetId = 0;
  if (qos > 0) {
    packetId = readU16(buf, p, end);
    if (packetId <= 0) return ERR_MALFORMED; // [MQTT-2.3.1-1]
    p += 2;
  }
  // retain_available false: a retained publish is refused by closing, as mosquitto does for MQTT 3.1.1
  if (retain && !b.config.retainAvailable) return ERR_PROTOCOL;
  let session = conn.session;
  if (session === undefined) return ERR_PROTOCOL;

  if (qos === 2 && session.incomingQos2.indexOf(packetId) >= 0) {
    // a resent QoS 2 message is not delivered twice [MQTT-4.3.3-2]
    b.send(conn.id, encodeAck(b.tx, 0, PUBREC, 0, packetId));
    return ERR_NONE;
  }
  let payloadLen = end - p;
  let profile = b.profile;
  // what the broker takes [mosquitto: handle__publish]: within the limits, not in `$` topics (they
  // belong to the broker), and where the publisher's ACL lets it write; a known route passed all but
  // the payload's size already
  let taken = profile.maxPayloadSize === 0 || payloadLen <= profile.maxPayloadSize;
  if (taken && route === undefined) {
    taken = topicLen <= profile.maxTopicLength && text.count(buf, topicOff, topicLen, SLASH) < profile.maxTopicLevels &&
      buf[topicOff] !== DOLLAR && (conn.acl === undefined || aclAllowsTopic(conn.acl, buf, topicOff, topicLen, ACCESS_WRITE));
  }
  if (taken && qos === 2) {
    if (session.incomingQos2.length >= profile.maxIncomingQos2) return ERR_PROTOCOL;
    session.incomingQos2.push(packetId);
    // PUBREC before the onward PUBLISH, as mosquitto answers, on every runtime [MQTT-4.3.3-2]
    b.send(conn.id, encodeAck(b.tx, 0, PUBREC, 0, packetId));
  }
  if (taken) {
    if (retain) retainMessage(b, buf, topicOff, topicLen, p, payloadLen, qos, undefined);
    if (b.bridgeOut !== undefined) b.bridgeRetain = retain;
    // a bridge (CONNECT level 0x84) does not get its own messages back, as from mosquitto
    let bridged = conn.protocolLevel > 127;
    if (bridged) b.noLocal = session;
    let keep: Route | undefined = route === undefined && key !== undefined
      ? { to: [], qos: [], matched: 0, writers: undefined, out: undefined } : undefined;
    routePublish(b, buf, topicOff, topicLen, p, payloadLen, qos, undefined, route, keep);
    if (bridged) b.noLocal = undefined;
    if (keep !== undefined) keepRoute(b, conn, key as string, keep);
  } else {
    b.stats.publishDropped++;
    if (qos === 2) b.send(conn.id, encodeAck(b.tx, 0, PUBREC, 0, packetId)); // [MQTT-4.3.3-2]
  }
  if (qos === 1) b.send(conn.id, encodeAck(b.tx, 0, PUBACK, 0, packetId)); // [MQTT-4.3.2-2]
  return ERR_NONE;
}
