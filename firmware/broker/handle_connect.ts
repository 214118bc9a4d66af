import { compileAcl } from "../auth/acl";
import { checkPassword } from "../auth/passwords";
import {
  CONNACK_ACCEPTED, CONNACK_BAD_CREDENTIALS, CONNACK_BAD_PROTOCOL, CONNACK_ID_REJECTED,
  CONNACK_NOT_AUTHORIZED, CONNACK_SERVER_UNAVAILABLE, ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, ERR_REFUSED,
  ERR_TAKEN_OVER,
} from "../codec/constants";
import { encodeConnack } from "../codec/encode";
import { validUtf8 } from "../codec/utf8";
import { Bytes } from "../platform";
import { bytesToString, countLevels, validTopicName } from "../topics/validate";
import type { Broker } from "./broker";
import { CONNECTED, Connection } from "./connection";
import { resume } from "./deliver";
import { storeMessage } from "./message";

const HEX = "0123456789abcdef";

function u16(buf: Bytes, at: number): number {
  return buf[at] * 256 + buf[at + 1];
}

function isMqtt(buf: Bytes, at: number): boolean {
  return buf[at] === 77 && buf[at + 1] === 81 && buf[at + 2] === 84 && buf[at + 3] === 84; // "MQTT"
}

function isMqisdp(buf: Bytes, at: number): boolean {
  // "MQIsdp": MQTT 3.1
  return buf[at] === 77 && buf[at + 1] === 81 && buf[at + 2] === 73 && buf[at + 3] === 115 &&
    buf[at + 4] === 100 && buf[at + 5] === 112;
}

/** Anonymous access limited to this machine: the desktop default. */
export function isLoopback(remote: string): boolean {
  return remote.indexOf("127.") === 0 || remote === "::1" || remote.indexOf("::ffff:127.") === 0;
}

function refuse(b: Broker, conn: Connection, code: number): number {
  b.send(conn.id, encodeConnack(b.tx, 0, false, code));
  b.stats.connectionsRefused++;
  return ERR_REFUSED;
}

/**
 * CONNECT [MQTT-3.1]. Structure errors close the connection without a
 * CONNACK; a refusal the spec gives a code for answers with that CONNACK and
 * then closes [MQTT-3.2.2-5].
 */
export function handleConnect(b: Broker, conn: Connection, flags: number, buf: Bytes, off: number, len: number): number {
  let end = off + len;
  let p = off;
  if (len < 2) return ERR_MALFORMED;
  let nameLen = u16(buf, p);
  p += 2;
  if (p + nameLen + 4 > end) return ERR_MALFORMED;
  let v311 = nameLen === 4 && isMqtt(buf, p);
  let v31 = nameLen === 6 && isMqisdp(buf, p);
  // an unknown protocol name closes without CONNACK [MQTT-3.1.2-1]
  if (!v311 && !v31) return ERR_PROTOCOL;
  // MQTT 3.1.1 fixes CONNECT's header flags to 0 [MQTT-2.2.2-2]; mosquitto lets MQTT 3.1 through
  if (v311 && flags !== 0) return ERR_MALFORMED;
  p += nameLen;
  let level = buf[p++];
  if ((v311 && level !== 4) || (v31 && level !== 3)) return refuse(b, conn, CONNACK_BAD_PROTOCOL); // [MQTT-3.1.2-2]
  let cf = buf[p++];
  // the reserved flag must be 0 [MQTT-3.1.2-3]; mosquitto does not check it for MQTT 3.1
  if (v311 && cf % 2 !== 0) return ERR_MALFORMED;
  let clean = Math.floor(cf / 2) % 2 === 1;
  let willFlag = Math.floor(cf / 4) % 2 === 1;
  let willQos = Math.floor(cf / 8) % 4;
  let willRetain = Math.floor(cf / 32) % 2 === 1;
  let passwordFlag = Math.floor(cf / 64) % 2 === 1;
  let usernameFlag = cf >= 128;
  // no will: will QoS and retain must be 0 [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
  if (!willFlag && (willQos !== 0 || willRetain)) return ERR_MALFORMED;
  if (willQos === 3) return ERR_MALFORMED; // [MQTT-3.1.2-14]
  // a password needs a user name [MQTT-3.1.2-22]
  if (v311 && passwordFlag && !usernameFlag) return ERR_MALFORMED;
  let keepalive = u16(buf, p);
  p += 2;

  // payload: client id, will topic, will message, user name, password [MQTT-3.1.3-1]
  if (p + 2 > end) return ERR_MALFORMED;
  let idLen = u16(buf, p);
  let idOff = p + 2;
  p = idOff + idLen;
  if (p > end) return ERR_MALFORMED;
  if (!validUtf8(buf, idOff, idLen)) return ERR_MALFORMED; // [MQTT-3.1.3-4]
  let willTopicOff = 0;
  let willTopicLen = 0;
  let willMsgOff = 0;
  let willMsgLen = 0;
  if (willFlag) {
    if (p + 2 > end) return ERR_MALFORMED; // [MQTT-3.1.2-9]
    willTopicLen = u16(buf, p);
    willTopicOff = p + 2;
    p = willTopicOff + willTopicLen;
    if (p + 2 > end) return ERR_MALFORMED;
    if (!validUtf8(buf, willTopicOff, willTopicLen) || !validTopicName(buf, willTopicOff, willTopicLen)) return ERR_MALFORMED;
    willMsgLen = u16(buf, p);
    willMsgOff = p + 2;
    p = willMsgOff + willMsgLen;
    if (p > end) return ERR_MALFORMED;
  }
  let username: string | undefined = undefined;
  if (usernameFlag) {
    if (p + 2 > end) return ERR_MALFORMED; // [MQTT-3.1.2-19]
    let userLen = u16(buf, p);
    if (p + 2 + userLen > end) return ERR_MALFORMED;
    if (!validUtf8(buf, p + 2, userLen)) return ERR_MALFORMED; // [MQTT-3.1.3-11]
    username = bytesToString(buf, p + 2, userLen);
    p += 2 + userLen;
  }
  let password: string | undefined = undefined;
  if (passwordFlag) {
    if (p + 2 > end) return ERR_MALFORMED; // [MQTT-3.1.2-21]
    let passLen = u16(buf, p);
    if (p + 2 + passLen > end) return ERR_MALFORMED;
    password = bytesToString(buf, p + 2, passLen);
    p += 2 + passLen;
  }
  // nothing may follow the fields the flags announce [MQTT-3.1.2-18], [MQTT-3.1.2-20]
  if (p !== end) return ERR_MALFORMED;

  let profile = b.profile;
  let clientId: string;
  if (idLen === 0) {
    // an empty client id needs a clean session [MQTT-3.1.3-8]; MQTT 3.1 has no empty ids
    if (!clean || v31) return refuse(b, conn, CONNACK_ID_REJECTED);
    clientId = generateClientId(b);
  } else {
    if (idLen > profile.maxClientIdLength) return refuse(b, conn, CONNACK_ID_REJECTED);
    clientId = bytesToString(buf, idOff, idLen);
  }

  // who may connect
  let code = authenticate(b, conn, username, password);
  if (code !== CONNACK_ACCEPTED) return refuse(b, conn, code);

  let session = b.sessions.find(clientId);
  let takeover = session !== undefined && session.connId >= 0;
  // the board's limits: connections, and memory left
  if (!takeover && b.clientCount >= profile.maxClients) return refuse(b, conn, CONNACK_SERVER_UNAVAILABLE);
  if (b.platform.lowMemory !== undefined && b.platform.lowMemory()) return refuse(b, conn, CONNACK_SERVER_UNAVAILABLE);
  if (willFlag && (willTopicLen > profile.maxTopicLength || countLevels(buf, willTopicOff, willTopicLen) > profile.maxTopicLevels)) {
    return refuse(b, conn, CONNACK_NOT_AUTHORIZED);
  }

  if (session !== undefined && takeover) {
    // the same client id again: the older connection goes [MQTT-3.1.4-2]
    let old = b.connection(session.connId);
    session.connId = -1;
    if (old !== undefined) {
      old.session = undefined;
      // as mosquitto: the old will goes out only when a clean session ends with it
      if (!clean && !session.clean) old.will = undefined;
      b.disconnect(old, ERR_TAKEN_OVER);
    }
  }
  let sessionPresent = false;
  if (session !== undefined && (clean || session.clean)) {
    // a clean session starts from nothing [MQTT-3.1.2-6]
    b.sessions.discard(b, session);
    session = undefined;
  }
  if (session === undefined) {
    session = b.sessions.create(clientId, clean);
  } else {
    sessionPresent = true; // [MQTT-3.2.2-2]
  }
  b.sessions.attach(session, conn.id);

  conn.state = CONNECTED;
  conn.session = session;
  conn.clientId = clientId;
  conn.username = username;
  conn.protocolLevel = level;
  conn.keepaliveMs = keepalive * 1000;
  conn.acl = b.config.auth.acl !== undefined ? compileAcl(b.config.auth.acl, clientId, username) : undefined;
  session.acl = conn.acl;
  if (willFlag) conn.will = storeMessage(b.platform.alloc, buf, willTopicOff, willTopicLen, willMsgOff, willMsgLen, willQos, willRetain);
  b.clientCount++;
  b.log("connect " + clientId + " from " + conn.remote + (username !== undefined ? " as " + username : "") +
    (clean ? "" : " (persistent" + (sessionPresent ? ", resumed)" : ")")));
  b.send(conn.id, encodeConnack(b.tx, 0, sessionPresent, CONNACK_ACCEPTED));
  if (sessionPresent) resume(b, session);
  return ERR_NONE;
}

function authenticate(b: Broker, conn: Connection, username: string | undefined, password: string | undefined): number {
  let auth = b.config.auth;
  if (username === undefined) {
    if (!auth.allowAnonymous) return CONNACK_NOT_AUTHORIZED;
    if (auth.anonymousLoopbackOnly && !isLoopback(conn.remote)) return CONNACK_NOT_AUTHORIZED;
    return CONNACK_ACCEPTED;
  }
  let passwords = auth.passwords;
  if (passwords === undefined) {
    // no password file: a user name is only a label, accepted where anonymous clients are
    if (!auth.allowAnonymous) return CONNACK_NOT_AUTHORIZED;
    if (auth.anonymousLoopbackOnly && !isLoopback(conn.remote)) return CONNACK_NOT_AUTHORIZED;
    return CONNACK_ACCEPTED;
  }
  let entry = passwords["u" + username];
  if (entry === undefined || password === undefined) return CONNACK_BAD_CREDENTIALS;
  if (!checkPassword(entry, password, b.platform.hashes)) return CONNACK_BAD_CREDENTIALS;
  return CONNACK_ACCEPTED;
}

/** A client id for a client that sent none [MQTT-3.1.3-6]: "auto-" and 16 hex digits, unused. */
function generateClientId(b: Broker): string {
  while (true) {
    let id = "auto-";
    for (let i = 0; i < 16; i++) id += HEX.charAt(b.platform.random(16));
    if (b.sessions.find(id) === undefined) return id;
  }
}
