import { aclAllowsTopic } from "../auth/acl";
import { ACCESS_READ, ACCESS_WRITE } from "../auth/types";
import { PUBLISH, PUBREL } from "../codec/constants";
import { encodeAck, encodePublish, publishSize, writePublishHead, writeRemainingLength } from "../codec/encode";
import { Bytes } from "../platform";
import {
  AWAIT_PUBACK, AWAIT_PUBCOMP, AWAIT_PUBREC, InFlight, Queued, Session,
} from "../session/session";
import type { BrokerState } from "./state";
import type { Connection } from "./connection";
import { StoredMessage, storeMessage } from "../message";
import { retainedRemove, retainedSet } from "../retain/store";
import { Route } from "./state";
import { text } from "../codec/text";

const DOLLAR = 36;

/**
 * Route one application message to every matching subscription
 * [MQTT-3.3.5-1]: once per subscriber, at min(publish QoS, granted QoS),
 * retain flag cleared [MQTT-3.3.1-9]. The QoS 0 copy is encoded once and the
 * same bytes go to every receiver; a QoS 1/2 message is stored once and shared
 * by every session that queues it. `stored` is passed when the message is
 * already kept (a will); otherwise it is copied from `src` only if some
 * receiver needs it beyond this call. Receivers come from `known`, a route
 * kept for the topic (route_cache.ts), or else from matching, and then
 * `keep`, when given, records them. Returns how many subscriptions matched.
 */
export function routePublish(
  b: BrokerState, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number,
  qos: number, stored: StoredMessage | undefined, known: Route | undefined, keep: Route | undefined,
): number {
  if (b.bridgeOut !== undefined) b.bridgeOut(b, src, topicOff, topicLen, payloadOff, payloadLen, qos);
  let targets: Session[];
  let n: number;
  let matched: number;
  if (known !== undefined) {
    targets = known.to;
    n = targets.length;
    matched = known.matched;
  } else {
    targets = b.targets;
    n = b.topics.match(src, topicOff, topicLen, targets);
    matched = n;
    if (keep !== undefined) keep.matched = n;
  }
  if (matched === 0) return 0;
  b.stats.publishReceived++;
  let qos0HeadLen = -1;
  // a QoS 0 publish as received: its length-prefixed topic is followed by its payload
  const raw = stored === undefined && qos === 0 && topicOff >= 2 && payloadOff === topicOff + topicLen &&
    src[topicOff - 2] * 256 + src[topicOff - 1] === topicLen;
  for (let i = 0; i < n; i++) {
    let s = targets[i];
    let granted: number;
    if (known !== undefined) {
      granted = known.qos[i];
    } else {
      if (s === b.noLocal) continue;
      if (s.acl !== undefined && !aclAllowsTopic(s.acl, src, topicOff, topicLen, ACCESS_READ)) continue;
      granted = s.matchQos;
      if (keep !== undefined) {
        keep.to.push(s);
        keep.qos.push(granted);
      }
    }
    let q = granted < qos ? granted : qos;
    if (q === 0) {
      // QoS 0 goes to connected clients only; an offline session does not queue it
      if (s.connId < 0) continue;
      if (b.transport.queued(s.connId) > b.profile.maxSendQueueBytes) {
        b.stats.publishDropped++;
        continue;
      }
      b.stats.publishSent++;
      if (raw) {
        // a received QoS 0 publish goes out as it came: its own topic and payload bytes after a
        // fresh fixed header (retain cleared), with no copy in between
        if (qos0HeadLen < 0) {
          b.tx[0] = 0x30;
          qos0HeadLen = 1 + writeRemainingLength(b.tx, 1, 2 + topicLen + payloadLen);
        }
        if (b.transport.sendTwo !== undefined) {
          b.stats.messagesSent++;
          b.stats.bytesSent += qos0HeadLen + 2 + topicLen + payloadLen;
          b.transport.sendTwo(s.connId, b.tx, 0, qos0HeadLen, src, topicOff - 2, 2 + topicLen + payloadLen);
          continue;
        }
        b.send(s.connId, qos0HeadLen);
        b.stats.bytesSent += 2 + topicLen + payloadLen;
        b.transport.send(s.connId, src, topicOff - 2, 2 + topicLen + payloadLen);
        continue;
      }
      if (b.transport.sendTwo !== undefined) {
        // (a QoS 1/2 publish to a QoS 0 subscriber, a will, $SYS) the fixed header and the topic
        // here, the payload from where it lies, in one write: encodePublish is cold code on a board
        if (qos0HeadLen < 0) {
          let tx = b.txFor(7 + topicLen);
          qos0HeadLen = writePublishHead(tx, 0, PUBLISH * 16, 2 + topicLen + payloadLen, topicLen);
          text.copy(tx, qos0HeadLen, src, topicOff, topicLen);
          qos0HeadLen += topicLen;
        }
        b.stats.messagesSent++;
        b.stats.bytesSent += qos0HeadLen + payloadLen;
        b.transport.sendTwo(s.connId, b.tx, 0, qos0HeadLen, src, payloadOff, payloadLen);
        continue;
      }
      if (qos0HeadLen < 0) {
        qos0HeadLen = encodePublish(
          b.txFor(publishSize(topicLen, payloadLen, 0)), 0, 0, false, false, 0,
          src, topicOff, topicLen, src, payloadOff, payloadLen,
        );
      }
      b.send(s.connId, qos0HeadLen);
    } else {
      if (stored === undefined) stored = storeMessage(b.platform.alloc, src, topicOff, topicLen, payloadOff, payloadLen, qos, false);
      // sending a stored message reuses the send buffer: the QoS 0 copy must be re-encoded after
      qos0HeadLen = -1;
      deliverStored(b, s, stored, q, false);
    }
  }
  // let go of the sessions: the scratch list must not keep them alive
  if (known === undefined) for (let k = 0; k < n; k++) targets[k] = undefined as unknown as Session;
  return matched;
}

/*
 * What a connection holds is bounded on every path: QoS 0 past the send
 * queue's bound (maxSendQueueBytes) is dropped, QoS 1/2 by the in-flight
 * window (maxInflight, the rest in the session queue), a retained replay
 * pauses at the bound (retained_replay.ts), and a transport closes a
 * connection past sendQueueHardLimit (profile.ts). And every message is
 * checked against the read ACL of the connection it leaves on [mosquitto:
 * send__publish], written out at each use: on Espruino every resident
 * function costs JsVars.
 */

/** Hand a QoS 1/2 message to one session: send now if its window allows, else queue, else drop. */
export function deliverStored(b: BrokerState, s: Session, msg: StoredMessage, qos: number, retain: boolean): void {
  if (s.connId >= 0 && s.queue.length === 0 && s.inflight.length < b.profile.maxInflight) {
    sendNew(b, s, msg, qos, retain);
  } else if (s.queue.length < b.profile.maxQueued) {
    // sent on an acknowledgement, a drain, or the tick (behind messages this connection may not read)
    s.queue.push({ msg: msg, qos: qos, retain: retain });
  } else {
    s.dropped++;
    b.stats.publishDropped++;
  }
}

/** Deliver a message to one session at `qos` (retained delivery on subscribe, QoS 0 included). */
export function deliverOne(b: BrokerState, s: Session, msg: StoredMessage, qos: number, retain: boolean): void {
  if (s.acl !== undefined && !aclAllowsTopic(s.acl, msg.data, 0, msg.topicLen, ACCESS_READ)) return;
  if (qos > 0) {
    deliverStored(b, s, msg, qos, retain);
    return;
  }
  if (s.connId < 0) return;
  b.stats.publishSent++;
  if (b.transport.sendTwo !== undefined) {
    // the fixed header and the topic's length here, the stored topic and payload from where they
    // lie, in one write: on Espruino encoding a retained message and sending it measured 4.6 ms
    let bytes = msg.topicLen + msg.payloadLen;
    let head = writePublishHead(b.tx, 0, PUBLISH * 16 + (retain ? 1 : 0), 2 + bytes, msg.topicLen);
    b.stats.messagesSent++;
    b.stats.bytesSent += head + bytes;
    b.transport.sendTwo(s.connId, b.tx, 0, head, msg.data, 0, bytes);
    return;
  }
  b.send(s.connId, encodeStored(b, msg, 0, retain, false, 0));
}

/**
 * A stored message as a PUBLISH in the send buffer. Its topic and payload lie
 * side by side in msg.data, so QoS 0 (a retained replay) is one copy, and no
 * call takes encodePublish's twelve arguments: on Espruino each call and each
 * argument costs tens of microseconds (a retained message's encoding measured
 * about 6 ms through encodePublish).
 */
function encodeStored(b: BrokerState, msg: StoredMessage, qos: number, retain: boolean, dup: boolean, packetId: number): number {
  let topicLen = msg.topicLen;
  let bytes = topicLen + msg.payloadLen;
  let rem = 2 + bytes + (qos > 0 ? 2 : 0);
  // publishSize written out: the buffer grows only to what this packet needs
  let out = b.txFor(1 + (rem < 128 ? 1 : rem < 16384 ? 2 : rem < 2097152 ? 3 : 4) + rem);
  let p = writePublishHead(out, 0, PUBLISH * 16 + (dup ? 8 : 0) + qos * 2 + (retain ? 1 : 0), rem, topicLen);
  if (qos === 0) {
    text.copy(out, p, msg.data, 0, bytes);
    return p + bytes;
  }
  text.copy(out, p, msg.data, 0, topicLen);
  p += topicLen;
  out[p] = Math.floor(packetId / 256);
  out[p + 1] = packetId % 256;
  text.copy(out, p + 2, msg.data, topicLen, msg.payloadLen);
  return p + 2 + msg.payloadLen;
}

function sendNew(b: BrokerState, s: Session, msg: StoredMessage, qos: number, retain: boolean): void {
  let id = s.allocPacketId();
  let f: InFlight = { msg: msg, packetId: id, qos: qos, retain: retain, state: qos === 1 ? AWAIT_PUBACK : AWAIT_PUBREC };
  s.inflight.push(f);
  let len = encodeStored(b, msg, qos, retain, false, id);
  b.stats.publishSent++;
  b.send(s.connId, len);
}

/**
 * Move queued messages into the in-flight window while it has room. A
 * message the connection may not read stays queued for one that may (the
 * session's owner, when another user resumed it).
 */
export function pump(b: BrokerState, s: Session): void {
  const q = s.queue;
  let i = 0;
  while (s.connId >= 0 && i < q.length && s.inflight.length < b.profile.maxInflight) {
    const next = q[i];
    if (s.acl !== undefined && !aclAllowsTopic(s.acl, next.msg.data, 0, next.msg.topicLen, ACCESS_READ)) {
      i++;
      continue;
    }
    q.splice(i, 1);
    sendNew(b, s, next.msg, next.qos, next.retain);
  }
}

/**
 * A client came back to its session: resend unacknowledged PUBLISH with DUP
 * set and PUBREL for those already received [MQTT-4.4.0-1], then the queue.
 * Every message is checked against the read ACL of the connection it goes to:
 * a session resumed by another user keeps what it holds, but sends only what
 * that user may read (a PUBREL carries no message and always goes).
 * @cold 150
 */
export function resume(b: BrokerState, s: Session): void {
  let list = s.inflight;
  for (let i = 0; i < list.length; i++) {
    let f = list[i];
    let len: number;
    if (f.state === AWAIT_PUBCOMP) {
      len = encodeAck(b.tx, 0, PUBREL, 2, f.packetId);
    } else {
      if (s.acl !== undefined && !aclAllowsTopic(s.acl, f.msg.data, 0, f.msg.topicLen, ACCESS_READ)) continue;
      len = encodeStored(b, f.msg, f.qos, f.retain, true, f.packetId);
      b.stats.publishSent++;
    }
    b.send(s.connId, len);
  }
  pump(b, s);
}

/**
 * Publish a connection's will [MQTT-3.1.2-8], if its ACL lets it write there.
 * @cold 210
 */
export function publishWill(b: BrokerState, conn: Connection): void {
  let will = conn.will as StoredMessage;
  conn.will = undefined;
  // `$` topics belong to the broker: a will may not write there any more than a PUBLISH may
  if (will.topicLen > 0 && will.data[0] === DOLLAR) return;
  if (conn.acl !== undefined && !aclAllowsTopic(conn.acl, will.data, 0, will.topicLen, ACCESS_WRITE)) return;
  if (will.retain) retainMessage(b, will.data, 0, will.topicLen, will.topicLen, will.payloadLen, will.qos, will);
  if (b.bridgeOut !== undefined) b.bridgeRetain = will.retain;
  routePublish(b, will.data, 0, will.topicLen, will.topicLen, will.payloadLen, will.qos, will.qos > 0 ? will : undefined, undefined, undefined);
}

/**
 * Keep (or clear, on an empty payload [MQTT-3.3.1-10]) the retained message
 * for a topic [MQTT-3.3.1-5]. Returns false when the store is full.
 * @cold 100
 */
export function retainMessage(
  b: BrokerState, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number,
  qos: number, stored: StoredMessage | undefined,
): boolean {
  let topic = text.str(src, topicOff, topicLen);
  if (payloadLen === 0) {
    retainedRemove(b.retained, topic);
    return true;
  }
  let msg = stored !== undefined ? stored : storeMessage(b.platform.alloc, src, topicOff, topicLen, payloadOff, payloadLen, qos, true);
  return retainedSet(b.retained, topic, msg);
}
