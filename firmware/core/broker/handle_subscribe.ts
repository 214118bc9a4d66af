import { aclAllowsSubscribe } from "../auth/acl";
import { ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, SUBACK_FAILURE } from "../codec/constants";
import { readStringLength, readU16 } from "../codec/cursor";
import { encodeSuback } from "../codec/encode";
import { validUtf8 } from "../codec/utf8";
import { Bytes } from "../platform";
import { Session } from "../session/session";
import { ADD_FULL, ADD_NEW } from "../topics/table";
import { countLevels, validTopicFilter } from "../topics/validate";
import type { BrokerState } from "./state";
import type { Connection } from "./connection";
import { continueReplays, startReplay } from "./retained_replay";
import { deliverSysTo } from "./sys_tree";
import { text } from "../codec/text";

/** Scratch lists for one SUBSCRIBE: return codes and the filters granted. */
const codes: number[] = [];
const granted: string[] = [];

/**
 * SUBSCRIBE [MQTT-3.8]. The whole packet is checked before anything changes,
 * so a malformed one closes the connection with no half-applied
 * subscriptions. A filter the broker will not take (ACL, limits, memory) gets
 * 0x80 in the SUBACK and the others go on [MQTT-3.9.3].
 */
export function handleSubscribe(b: BrokerState, conn: Connection, buf: Bytes, off: number, len: number): number {
  let end = off + len;
  let packetId = readU16(buf, off, end);
  if (packetId <= 0) return ERR_MALFORMED; // [MQTT-2.3.1-1]
  let p = off + 2;
  // at least one filter [MQTT-3.8.3-3]
  if (p === end) return ERR_PROTOCOL;
  let count = 0;
  let err = ERR_NONE;
  while (p < end) {
    let flen = readStringLength(buf, p, end);
    let fOff = p + 2;
    // the filter and its QoS byte; printable ASCII first: one native call on a board, where the
    // whole check is cold code
    if (flen < 0 || fOff + flen + 1 > end || !(text.printable(buf, fOff, flen) || validUtf8(buf, fOff, flen))) { // [MQTT-3.8.3-1]
      err = ERR_MALFORMED;
      break;
    }
    granted[count] = text.str(buf, fOff, flen);
    // [MQTT-4.7.1-1], [MQTT-4.7.3-1]; then reserved bits and QoS 3 [MQTT-3-8.3-4]
    if (!validTopicFilter(granted[count]) || buf[fOff + flen] > 2) {
      err = ERR_MALFORMED;
      break;
    }
    p = fOff + flen + 1;
    count++;
  }
  if (err !== ERR_NONE) {
    for (let j = 0; j <= count; j++) granted[j] = "";
    return err;
  }

  const session = conn.session as Session;
  const profile = b.profile;
  // one filter: the code for the SUBACK (nested: on Espruino a module-level function costs memory)
  const subscribeOne = (f: number, len: number, filter: string, qos: number): number => {
    if (len > profile.maxTopicLength || countLevels(buf, f, len) > profile.maxTopicLevels) return SUBACK_FAILURE;
    if (session.acl !== undefined && !aclAllowsSubscribe(session.acl, filter)) return SUBACK_FAILURE;
    const existing = session.filters.indexOf(filter);
    if (existing < 0) {
      if (session.filters.length >= profile.maxSubscriptionsPerClient) return SUBACK_FAILURE;
      if (b.platform.lowMemory !== undefined && b.platform.lowMemory()) return SUBACK_FAILURE;
    }
    const added = b.topics.add(filter, session, qos);
    if (added === ADD_FULL) return SUBACK_FAILURE;
    if (added === ADD_NEW) {
      session.filters.push(filter);
      session.filterQos.push(qos);
    } else {
      // the same filter again replaces the old subscription [MQTT-3.8.4-3]
      session.filterQos[existing] = qos;
    }
    return qos;
  };
  p = off + 2;
  for (let i = 0; i < count; i++) {
    let flen2 = readU16(buf, p, end);
    let f2 = p + 2;
    let qos = buf[f2 + flen2];
    p = f2 + flen2 + 1;
    let filter = granted[i];
    codes[i] = subscribeOne(f2, flen2, filter, qos);
    if (codes[i] !== SUBACK_FAILURE && b.platform.log !== undefined) b.log("subscribe " + conn.clientId + " " + filter + " qos " + codes[i]);
  }
  b.send(conn.id, encodeSuback(b.txFor(5 + count), 0, packetId, codes, count));

  // retained messages follow the SUBACK, retain flag set [MQTT-3.3.1-6], [MQTT-3.3.1-8], as far
  // as the connection has room, the rest as it drains (retained_replay.ts); the $SYS tree is
  // computed, not stored, and answers the same way
  // (only a filter starting with "$" can match it: deliverSysTo is cold code on a board)
  for (let s = 0; s < count; s++) if (codes[s] !== SUBACK_FAILURE && granted[s].charAt(0) === "$") deliverSysTo(b, session, granted[s]);
  if (b.retained.list.length > 0) {
    for (let k = 0; k < count; k++) if (codes[k] !== SUBACK_FAILURE) startReplay(b, session, granted[k], codes[k]);
    continueReplays(b, session);
  }
  for (let j = 0; j < count; j++) granted[j] = "";
  return ERR_NONE;
}
