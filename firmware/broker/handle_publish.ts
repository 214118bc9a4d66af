import { aclAllowsTopic } from "../auth/acl";
import { ACCESS_WRITE } from "../auth/types";
import { ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, PUBACK, PUBREC } from "../codec/constants";
import { encodeAck } from "../codec/encode";
import { validUtf8 } from "../codec/utf8";
import { Bytes } from "../platform";
import { countLevels, validTopicName } from "../topics/validate";
import type { Broker } from "./broker";
import type { Connection } from "./connection";
import { retainMessage, routePublish } from "./deliver";
import { recordRoute } from "./raw_route";

const DOLLAR = 36;

/**
 * PUBLISH from a client [MQTT-3.3]. A message the broker will not take (ACL,
 * `$` topics, over a limit) is dropped but still acknowledged, so a QoS 1/2
 * publisher does not resend it forever (mosquitto does the same).
 */
export function handlePublish(b: Broker, conn: Connection, flags: number, buf: Bytes, off: number, len: number): number {
  let qos = Math.floor(flags / 2) % 4;
  let retain = flags % 2 === 1;
  let dup = flags >= 8;
  if (qos === 3) return ERR_MALFORMED; // [MQTT-3.3.1-4]
  if (qos === 0 && dup) return ERR_MALFORMED; // [MQTT-3.3.1-2]
  if (len < 2) return ERR_MALFORMED;
  let topicLen = buf[off] * 256 + buf[off + 1];
  let topicOff = off + 2;
  let p = topicOff + topicLen;
  let end = off + len;
  if (p > end) return ERR_MALFORMED;
  if (!validUtf8(buf, topicOff, topicLen)) return ERR_MALFORMED; // [MQTT-3.3.2-1]
  if (!validTopicName(buf, topicOff, topicLen)) return ERR_PROTOCOL; // [MQTT-3.3.2-2], [MQTT-4.7.3-1]
  let packetId = 0;
  if (qos > 0) {
    if (p + 2 > end) return ERR_MALFORMED;
    packetId = buf[p] * 256 + buf[p + 1];
    if (packetId === 0) return ERR_MALFORMED; // [MQTT-2.3.1-1]
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
  if (accepts(b, conn, buf, topicOff, topicLen, payloadLen)) {
    if (qos === 2) {
      if (session.incomingQos2.length >= b.profile.maxIncomingQos2) return ERR_PROTOCOL;
      session.incomingQos2.push(packetId);
    }
    if (retain) retainMessage(b, buf, topicOff, topicLen, p, payloadLen, qos, undefined);
    // an adapter asked what this connection's QoS 0 stream does (raw_route.ts)
    // (not with a bridge: what the fast path forwards would not reach it)
    let record = qos === 0 && !retain && b.routeWanted === conn.id && b.bridgeOut === undefined;
    if (b.bridgeOut !== undefined) b.bridgeRetain = retain;
    // a bridge (CONNECT level 0x84) does not get its own messages back, as from mosquitto
    let bridged = conn.protocolLevel > 127;
    if (bridged) b.noLocal = session;
    let matched = routePublish(b, buf, topicOff, topicLen, p, payloadLen, qos, undefined, record ? b.routeIds : undefined);
    if (bridged) b.noLocal = undefined;
    if (record) recordRoute(b, buf, off, len, topicLen, b.routeIds, matched > 0);
  } else {
    b.stats.publishDropped++;
  }
  if (qos === 1) b.send(conn.id, encodeAck(b.tx, 0, PUBACK, 0, packetId)); // [MQTT-4.3.2-2]
  else if (qos === 2) b.send(conn.id, encodeAck(b.tx, 0, PUBREC, 0, packetId)); // [MQTT-4.3.3-2]
  return ERR_NONE;
}

function accepts(b: Broker, conn: Connection, buf: Bytes, topicOff: number, topicLen: number, payloadLen: number): boolean {
  let profile = b.profile;
  if (topicLen > profile.maxTopicLength) return false;
  if (countLevels(buf, topicOff, topicLen) > profile.maxTopicLevels) return false;
  if (profile.maxPayloadSize > 0 && payloadLen > profile.maxPayloadSize) return false;
  // `$` topics belong to the broker ($SYS): clients do not write there
  if (buf[topicOff] === DOLLAR) return false;
  if (conn.acl !== undefined && !aclAllowsTopic(conn.acl, buf, topicOff, topicLen, ACCESS_WRITE)) return false;
  return true;
}
