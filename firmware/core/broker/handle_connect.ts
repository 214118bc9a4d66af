import { compileAcl } from "../auth/acl";
import {
  CONNACK_ACCEPTED, CONNACK_BAD_CREDENTIALS, CONNACK_BAD_PROTOCOL, CONNACK_ID_REJECTED,
  CONNACK_NOT_AUTHORIZED, CONNACK_SERVER_UNAVAILABLE, ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, ERR_REFUSED,
} from "../codec/constants";
import { readStringLength, readU16 } from "../codec/cursor";
import { encodeConnack } from "../codec/encode";
import { validUtf8 } from "../codec/utf8";
import { Bytes } from "../platform";
import { countLevels, validTopicName } from "../topics/validate";
import type { BrokerState } from "./state";
import { CONNECTED, Connection } from "./connection";
import { resume } from "./deliver";
import { continueReplays } from "./retained_replay";
import { takeoverStorm } from "./guard";
import { connectAuthorization } from "./connect_auth";
import { storeMessage } from "../message";
import { findSession, freshClientId } from "../session/registry";
import { Session } from "../session/session";
import { openSession } from "./open_session";
import { text } from "../codec/text";

/**
 * CONNECT [MQTT-3.1]. Structure errors close the connection without a
 * CONNACK; a refusal the spec gives a code for answers with that CONNACK and
 * then closes [MQTT-3.2.2-5].
 */
export function handleConnect(b: BrokerState, conn: Connection, flags: number, buf: Bytes, off: number, len: number): number {
  // refuse lives inside: CONNECT is rare, and on Espruino a nested function costs memory only while it runs
  const refuse = (code: number): number => {
    b.send(conn.id, encodeConnack(b.tx, 0, false, code));
    b.stats.connectionsRefused++;
    return ERR_REFUSED;
  };
  const end = off + len;
  let p = off;
  // the name, then level, flags and keepalive: all there before any is looked at
  let nameLen = readU16(buf, p, end);
  if (nameLen < 0 || p + 2 + nameLen + 4 > end) return ERR_MALFORMED;
  p += 2;
  // "MQTT" level 4, or "MQIsdp" level 3 (MQTT 3.1)
  const v311 = nameLen === 4 && buf[p] === 77 && buf[p + 1] === 81 && buf[p + 2] === 84 && buf[p + 3] === 84;
  const v31 = nameLen === 6 && buf[p] === 77 && buf[p + 1] === 81 && buf[p + 2] === 73 && buf[p + 3] === 115 &&
    buf[p + 4] === 100 && buf[p + 5] === 112;
  // an unknown protocol name closes without CONNACK [MQTT-3.1.2-1]
  if (!v311 && !v31) return ERR_PROTOCOL;
  // MQTT 3.1.1 fixes CONNECT's header flags to 0 [MQTT-2.2.2-2]; mosquitto lets MQTT 3.1 through
  if (v311 && flags !== 0) return ERR_MALFORMED;
  p += nameLen;
  let level = buf[p++];
  // 0x80 on the level: a bridge (mosquitto's try_private), which does not get its own messages back
  let plain = level > 127 ? level - 128 : level;
  if ((v311 && plain !== 4) || (v31 && plain !== 3)) return refuse(CONNACK_BAD_PROTOCOL); // [MQTT-3.1.2-2]
  let cf = buf[p++];
  let keepalive = readU16(buf, p, end);
  p += 2;
  // the reserved flag must be 0 [MQTT-3.1.2-3]; mosquitto does not check it for MQTT 3.1
  if (v311 && cf % 2 !== 0) return ERR_MALFORMED;
  // bit k is set when cf modulo 2^(k+1) reaches 2^k (no bitwise operators in the core; a Math
  // call costs a board more than a comparison)
  let clean = cf % 4 >= 2;
  let willFlag = cf % 8 >= 4;
  let willQos = (cf % 32 - cf % 8) / 8;
  let willRetain = cf % 64 >= 32;
  let passwordFlag = cf % 128 >= 64;
  let usernameFlag = cf >= 128;
  // no will: will QoS and retain must be 0 [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
  if (!willFlag && (willQos !== 0 || willRetain)) return ERR_MALFORMED;
  if (willQos === 3) return ERR_MALFORMED; // [MQTT-3.1.2-14]
  // a password needs a user name [MQTT-3.1.2-22]
  if (v311 && passwordFlag && !usernameFlag) return ERR_MALFORMED;

  // payload: client id, will topic, will message, user name, password [MQTT-3.1.3-1]
  let idLen = readStringLength(buf, p, end);
  if (idLen < 0) return ERR_MALFORMED;
  let idOff = p + 2;
  p = idOff + idLen;
  // printable ASCII first: one native call on a board, where the whole UTF-8 check is cold code
  if (!text.printable(buf, idOff, idLen) && !validUtf8(buf, idOff, idLen)) return ERR_MALFORMED; // [MQTT-3.1.3-4]
  let willTopicOff = 0;
  let willTopicLen = 0;
  let willMsgOff = 0;
  let willMsgLen = 0;
  if (willFlag) {
    willTopicLen = readStringLength(buf, p, end);
    if (willTopicLen < 0) return ERR_MALFORMED; // [MQTT-3.1.2-9]
    willTopicOff = p + 2;
    p = willTopicOff + willTopicLen;
    if (!validUtf8(buf, willTopicOff, willTopicLen) || !validTopicName(buf, willTopicOff, willTopicLen)) return ERR_MALFORMED;
    willMsgLen = readStringLength(buf, p, end);
    if (willMsgLen < 0) return ERR_MALFORMED;
    willMsgOff = p + 2;
    p = willMsgOff + willMsgLen;
  }
  let username: string | undefined = undefined;
  if (usernameFlag) {
    let userLen = readStringLength(buf, p, end);
    if (userLen < 0) return ERR_MALFORMED; // [MQTT-3.1.2-19]
    if (!text.printable(buf, p + 2, userLen) && !validUtf8(buf, p + 2, userLen)) return ERR_MALFORMED; // [MQTT-3.1.3-11]
    username = text.str(buf, p + 2, userLen);
    p += 2 + userLen;
  }
  let password: string | undefined = undefined;
  if (passwordFlag) {
    let passLen = readStringLength(buf, p, end);
    if (passLen < 0) return ERR_MALFORMED; // [MQTT-3.1.2-21]
    password = text.str(buf, p + 2, passLen);
    p += 2 + passLen;
  }
  // nothing may follow the fields the flags announce [MQTT-3.1.2-18], [MQTT-3.1.2-20]
  if (p !== end) return ERR_MALFORMED;

  let profile = b.profile;
  let clientId = "";
  if (idLen === 0) {
    // an empty client id needs a clean session [MQTT-3.1.3-8]; MQTT 3.1 has no empty ids
    if (!clean || v31) return refuse(CONNACK_ID_REJECTED);
    clientId = freshClientId(b.sessions, b.platform);
  } else {
    if (idLen > profile.maxClientIdLength) return refuse(CONNACK_ID_REJECTED);
    clientId = text.str(buf, idOff, idLen);
  }

  // who may connect (connect_auth.ts: cold code on a board), asked only where a rule can refuse
  const auth = b.config.auth;
  const now = b.platform.now();
  if (auth.passwords !== undefined || !auth.allowAnonymous || auth.anonymousLoopbackOnly || b.guard.records.length > 0) {
    const code = connectAuthorization(b, conn.remote, username, password, now);
    if (code !== CONNACK_ACCEPTED) return refuse(code);
  }

  const known = findSession(b.sessions, clientId);
  const takeover = known !== undefined && known.connId >= 0;
  // the same id taking over again and again: a conflict between two clients, refused (guard.ts)
  if (takeover && takeoverStorm(b, clientId, now)) return refuse(CONNACK_SERVER_UNAVAILABLE);
  // the board's limits: connections, and memory left
  if (!takeover && b.clientCount >= profile.maxClients) return refuse(CONNACK_SERVER_UNAVAILABLE);
  if (b.platform.lowMemory !== undefined && b.platform.lowMemory()) return refuse(CONNACK_SERVER_UNAVAILABLE);
  if (willFlag && (willTopicLen > profile.maxTopicLength || countLevels(buf, willTopicOff, willTopicLen) > profile.maxTopicLevels)) {
    return refuse(CONNACK_NOT_AUTHORIZED);
  }

  // accepted: the session (open_session.ts), then the connection's own state
  const sessionPresent = openSession(b, conn, known, clientId, clean);
  const session = conn.session as Session;
  conn.state = CONNECTED;
  // past CONNECT, a packet may be as large as the profile allows
  conn.reader.maxPacket = profile.maxPacketSize;
  conn.clientId = clientId;
  conn.username = username;
  conn.protocolLevel = level;
  conn.keepaliveMs = keepalive * 1000;
  conn.acl = b.config.auth.acl !== undefined ? compileAcl(b.config.auth.acl, clientId, username) : undefined;
  session.acl = conn.acl;
  if (willFlag) conn.will = storeMessage(b.platform.alloc, buf, willTopicOff, willTopicLen, willMsgOff, willMsgLen, willQos, willRetain);
  b.clientCount++;
  if (b.platform.log !== undefined) b.log("connect " + clientId + " from " + conn.remote + (username !== undefined ? " as " + username : "") +
    (clean ? "" : " (persistent" + (sessionPresent ? ", resumed)" : ")")));
  b.send(conn.id, encodeConnack(b.tx, 0, sessionPresent, CONNACK_ACCEPTED));
  if (sessionPresent) {
    resume(b, session);
    continueReplays(b, session);
  }
  return ERR_NONE;
}
