import { Bytes } from "../platform";
import { validTopicFilterAt, validTopicName } from "../topics/validate";
import { readStringLength, readU16 } from "./cursor";
import { validUtf8 } from "./utf8";
import {
  CONNACK, CONNECT, DISCONNECT, ERR_MALFORMED, ERR_NONE, MAX_REMAINING_LENGTH, PINGREQ, PINGRESP, PUBACK,
  ERR_PROTOCOL, PUBCOMP, PUBLISH, PUBREC, PUBREL, REQUIRED_FLAGS, SUBACK, SUBACK_FAILURE, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE,
} from "./constants";

/**
 * The fields of one decoded packet, as numbers and offsets into the buffer
 * the packet was decoded from (never copies). One object is owned by the
 * caller and reused for every packet: decodePacket resets every field first.
 * An absent string field has offset -1 and length 0.
 */
export class Decoded {
  /** Packet type (CONNECT .. DISCONNECT) and the low nibble of the first byte. */
  type = 0;
  flags = 0;
  /** Packet identifier; 0 when the packet has none. */
  packetId = 0;
  /** PUBLISH header flags. */
  qos = 0;
  dup = false;
  retain = false;
  /** PUBLISH topic name and payload. */
  topicOff = -1;
  topicLen = 0;
  payloadOff = -1;
  payloadLen = 0;
  /** CONNECT variable header. */
  protocolNameOff = -1;
  protocolNameLen = 0;
  protocolLevel = 0;
  connectFlags = 0;
  cleanSession = false;
  keepalive = 0;
  /** CONNECT payload; the client id is always present (maybe empty), the others -1 when absent. */
  clientIdOff = -1;
  clientIdLen = 0;
  willTopicOff = -1;
  willTopicLen = 0;
  willMessageOff = -1;
  willMessageLen = 0;
  willQos = 0;
  willRetain = false;
  usernameOff = -1;
  usernameLen = 0;
  passwordOff = -1;
  passwordLen = 0;
  /** CONNACK. */
  sessionPresent = false;
  returnCode = 0;
  /** SUBACK: the return codes, one byte each, in buf[codesOff, codesOff + codesLen). */
  codesOff = -1;
  codesLen = 0;
  /**
   * SUBSCRIBE / UNSUBSCRIBE: the list after the packet id, buf[listOff, listOff + listLen),
   * holding `count` entries: (u16 length, filter[, requested QoS byte for SUBSCRIBE]).
   */
  listOff = -1;
  listLen = 0;
  count = 0;
}

/** Reset every field of `d` to its "absent" value. */
export function resetDecoded(d: Decoded): void {
  d.type = 0;
  d.flags = 0;
  d.packetId = 0;
  d.qos = 0;
  d.dup = false;
  d.retain = false;
  d.topicOff = -1;
  d.topicLen = 0;
  d.payloadOff = -1;
  d.payloadLen = 0;
  d.protocolNameOff = -1;
  d.protocolNameLen = 0;
  d.protocolLevel = 0;
  d.connectFlags = 0;
  d.cleanSession = false;
  d.keepalive = 0;
  d.clientIdOff = -1;
  d.clientIdLen = 0;
  d.willTopicOff = -1;
  d.willTopicLen = 0;
  d.willMessageOff = -1;
  d.willMessageLen = 0;
  d.willQos = 0;
  d.willRetain = false;
  d.usernameOff = -1;
  d.usernameLen = 0;
  d.passwordOff = -1;
  d.passwordLen = 0;
  d.sessionPresent = false;
  d.returnCode = 0;
  d.codesOff = -1;
  d.codesLen = 0;
  d.listOff = -1;
  d.listLen = 0;
  d.count = 0;
}

/** The packet id of an ack (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK): exactly two bytes, never 0. */
function decodeAckBody(buf: Bytes, off: number, len: number, out: Decoded): number {
  if (len !== 2) return ERR_MALFORMED;
  let id = readU16(buf, off, off + len);
  if (id <= 0) return ERR_MALFORMED; // [MQTT-2.3.1-1]
  out.packetId = id;
  return ERR_NONE;
}

/** buf[p, p + len) holds exactly the ASCII string `s` (compared in place: the decoder makes no string for it). */
function asciiAt(buf: Bytes, p: number, len: number, s: string): boolean {
  if (len !== s.length) return false;
  for (let i = 0; i < len; i++) if (buf[p + i] !== s.charCodeAt(i)) return false;
  return true;
}

function decodeConnect(flags: number, buf: Bytes, off: number, len: number, out: Decoded): number {
  let end = off + len;
  let p = off;
  // name, level, flags and keepalive
  let nameLen = readU16(buf, p, end);
  if (nameLen < 0 || p + 2 + nameLen + 4 > end) return ERR_MALFORMED;
  p += 2;
  out.protocolNameOff = p;
  out.protocolNameLen = nameLen;
  // "MQTT" (3.1.1) or "MQIsdp" (3.1): another name closes without CONNACK [MQTT-3.1.2-1]
  const v311 = asciiAt(buf, p, nameLen, "MQTT");
  const v31 = asciiAt(buf, p, nameLen, "MQIsdp");
  if (!v311 && !v31) return ERR_PROTOCOL;
  // 3.1.1 fixes CONNECT's header flags to 0 [MQTT-2.2.2-2]; mosquitto (and the broker) let 3.1 through
  if (v311 && flags !== 0) return ERR_MALFORMED;
  p += nameLen;
  let level = buf[p];
  let cf = buf[p + 1];
  out.protocolLevel = level;
  out.connectFlags = cf;
  out.keepalive = readU16(buf, p + 2, end);
  p += 4;
  // another protocol level (0x80 on it marks a bridge) is answered with CONNACK 1 before the rest is
  // read [MQTT-3.1.2-2], as mosquitto does: a CONNECT of a version this broker does not speak is
  // decoded no further
  let plain = level > 127 ? level - 128 : level;
  if ((v311 && plain !== 4) || (v31 && plain !== 3)) return ERR_NONE;
  let clean = Math.floor(cf / 2) % 2 === 1;
  let willFlag = Math.floor(cf / 4) % 2 === 1;
  let willQos = Math.floor(cf / 8) % 4;
  let willRetain = Math.floor(cf / 32) % 2 === 1;
  let passwordFlag = Math.floor(cf / 64) % 2 === 1;
  let usernameFlag = cf >= 128;
  out.cleanSession = clean;
  // the reserved flag [MQTT-3.1.2-3] and password-needs-username [MQTT-3.1.2-22] are MQTT 3.1.1 rules
  if (v311 && cf % 2 !== 0) return ERR_MALFORMED;
  if (v311 && passwordFlag && !usernameFlag) return ERR_MALFORMED;
  // no will: will QoS and retain are 0 [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
  if (!willFlag && (willQos !== 0 || willRetain)) return ERR_MALFORMED;
  if (willQos === 3) return ERR_MALFORMED; // [MQTT-3.1.2-14]
  out.willQos = willQos;
  out.willRetain = willRetain;

  // client id (always), will topic and message, user name, password [MQTT-3.1.3-1]
  let n = readStringLength(buf, p, end);
  if (n < 0) return ERR_MALFORMED;
  out.clientIdOff = p + 2;
  out.clientIdLen = n;
  if (!validUtf8(buf, p + 2, n)) return ERR_MALFORMED; // [MQTT-3.1.3-4]
  p += 2 + n;
  if (willFlag) {
    n = readStringLength(buf, p, end);
    if (n < 0) return ERR_MALFORMED;
    out.willTopicOff = p + 2;
    out.willTopicLen = n;
    if (!validUtf8(buf, p + 2, n) || !validTopicName(buf, p + 2, n)) return ERR_MALFORMED; // [MQTT-3.1.3-10]
    p += 2 + n;
    n = readStringLength(buf, p, end);
    if (n < 0) return ERR_MALFORMED;
    out.willMessageOff = p + 2;
    out.willMessageLen = n;
    p += 2 + n;
  }
  if (usernameFlag) {
    n = readStringLength(buf, p, end);
    if (n < 0) return ERR_MALFORMED;
    out.usernameOff = p + 2;
    out.usernameLen = n;
    if (!validUtf8(buf, p + 2, n)) return ERR_MALFORMED; // [MQTT-3.1.3-11]
    p += 2 + n;
  }
  if (passwordFlag) {
    n = readStringLength(buf, p, end);
    if (n < 0) return ERR_MALFORMED;
    out.passwordOff = p + 2;
    out.passwordLen = n;
    p += 2 + n;
  }
  // nothing may follow what the flags announce
  if (p !== end) return ERR_MALFORMED;
  return ERR_NONE;
}

function decodePublish(flags: number, buf: Bytes, off: number, len: number, out: Decoded): number {
  let qos = Math.floor(flags / 2) % 4;
  let dup = flags >= 8;
  if (qos === 3) return ERR_MALFORMED; // [MQTT-3.3.1-4]
  if (qos === 0 && dup) return ERR_MALFORMED; // [MQTT-3.3.1-2]
  out.qos = qos;
  out.dup = dup;
  out.retain = flags % 2 === 1;
  let end = off + len;
  let topicLen = readStringLength(buf, off, end);
  if (topicLen < 0) return ERR_MALFORMED;
  let p = off + 2 + topicLen;
  out.topicOff = off + 2;
  out.topicLen = topicLen;
  if (!validUtf8(buf, off + 2, topicLen)) return ERR_MALFORMED; // [MQTT-3.3.2-1]
  // not empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2]: a protocol error, as the broker reads it
  if (!validTopicName(buf, off + 2, topicLen)) return ERR_PROTOCOL;
  if (qos > 0) {
    let id = readU16(buf, p, end);
    if (id <= 0) return ERR_MALFORMED; // [MQTT-2.3.1-1]
    out.packetId = id;
    p += 2;
  }
  out.payloadOff = p;
  out.payloadLen = end - p;
  return ERR_NONE;
}

/** SUBSCRIBE (withQos) and UNSUBSCRIBE: a packet id and at least one entry. */
function decodeFilterList(buf: Bytes, off: number, len: number, withQos: boolean, out: Decoded): number {
  let end = off + len;
  let id = readU16(buf, off, end);
  if (id <= 0) return ERR_MALFORMED; // [MQTT-2.3.1-1]
  out.packetId = id;
  let p = off + 2;
  if (p === end) return ERR_PROTOCOL; // at least one filter [MQTT-3.8.3-3], [MQTT-3.10.3-2]
  let count = 0;
  let extra = withQos ? 1 : 0;
  while (p < end) {
    let n = readStringLength(buf, p, end);
    if (n <= 0 || p + 2 + n + extra > end) return ERR_MALFORMED; // not empty [MQTT-4.7.3-1]
    if (!validUtf8(buf, p + 2, n)) return ERR_MALFORMED; // [MQTT-3.8.3-1], [MQTT-3.10.3-1]
    if (withQos && !validTopicFilterAt(buf, p + 2, n)) return ERR_MALFORMED; // [MQTT-4.7.1-1]
    // requested QoS: reserved bits 0 and not 3 [MQTT-3.8.3-4]
    if (withQos && buf[p + 2 + n] > 2) return ERR_MALFORMED;
    p += 2 + n + extra;
    count++;
  }
  out.listOff = off + 2;
  out.listLen = len - 2;
  out.count = count;
  return ERR_NONE;
}

function decodeSuback(buf: Bytes, off: number, len: number, out: Decoded): number {
  // a packet id and at least one return code
  if (len < 3) return ERR_MALFORMED;
  let id = readU16(buf, off, off + len);
  if (id <= 0) return ERR_MALFORMED;
  out.packetId = id;
  for (let i = off + 2; i < off + len; i++) {
    let c = buf[i];
    if (c > 2 && c !== SUBACK_FAILURE) return ERR_MALFORMED; // [MQTT-3.9.3-2]
  }
  out.codesOff = off + 2;
  out.codesLen = len - 2;
  return ERR_NONE;
}

/**
 * Decode one packet whose first byte is `first` and whose body (after the
 * fixed header) is buf[off, off+len) — exactly what PacketReader hands a sink.
 * Works for all fourteen MQTT 3.1.1 packet types in either direction. Checks
 * what the broker's handlers check of a packet before they act on it, with
 * the same functions: fixed-header flags [MQTT-2.2.2-1], lengths, packet ids
 * never 0, reserved bits, QoS values, the protocol name, UTF-8, topic and
 * filter syntax (test/unit/decoder-broker.property.test.ts holds the two to
 * one verdict). Not who may send which packet, nor the profile's limits.
 * Fills `out` (reset first) and returns ERR_NONE, ERR_MALFORMED, or
 * ERR_PROTOCOL where the broker's reading calls it that (an unknown protocol
 * name, an empty SUBSCRIBE, a topic with a wildcard). Allocates nothing.
 */
export function decodePacket(first: number, buf: Bytes, off: number, len: number, out: Decoded): number {
  resetDecoded(out);
  let type = Math.floor(first / 16);
  let flags = first % 16;
  out.type = type;
  out.flags = flags;
  let required = REQUIRED_FLAGS[type];
  if (required === -2) return ERR_MALFORMED; // reserved types 0 and 15
  if (type === CONNECT) return decodeConnect(flags, buf, off, len, out);
  if (required !== -1 && flags !== required) return ERR_MALFORMED; // [MQTT-2.2.2-2]
  if (type === PUBLISH) return decodePublish(flags, buf, off, len, out);
  if (type === CONNACK) {
    if (len !== 2) return ERR_MALFORMED;
    let ackFlags = buf[off];
    if (ackFlags > 1) return ERR_MALFORMED; // reserved bits [MQTT-3.2.2-1]
    let code = buf[off + 1];
    if (code > 5) return ERR_MALFORMED; // 6..255 are reserved
    out.sessionPresent = ackFlags === 1;
    out.returnCode = code;
    return ERR_NONE;
  }
  if (type === PUBACK || type === PUBREC || type === PUBREL || type === PUBCOMP || type === UNSUBACK) {
    return decodeAckBody(buf, off, len, out);
  }
  if (type === SUBSCRIBE) return decodeFilterList(buf, off, len, true, out);
  if (type === UNSUBSCRIBE) return decodeFilterList(buf, off, len, false, out);
  if (type === SUBACK) return decodeSuback(buf, off, len, out);
  if (type === PINGREQ || type === PINGRESP || type === DISCONNECT) {
    return len === 0 ? ERR_NONE : ERR_MALFORMED;
  }
  return ERR_MALFORMED;
}

/**
 * Length of the whole packet (fixed header included) starting at buf[off],
 * looking at no more than `avail` bytes: 0 when more bytes are needed to
 * tell or to hold it, -1 when the remaining length is malformed (a fifth
 * length byte). For decoding a packet held whole in a buffer.
 */
export function frameLength(buf: Bytes, off: number, avail: number): number {
  if (avail < 2) return 0;
  let remaining = 0;
  let multiplier = 1;
  let i = 1;
  while (true) {
    if (i >= avail) return 0;
    let b = buf[off + i];
    remaining += (b % 128) * multiplier;
    i++;
    if (b < 128) break;
    multiplier *= 128;
    if (multiplier > 2097152) return -1; // at most four length bytes [MQTT-2.2.3]
  }
  if (remaining > MAX_REMAINING_LENGTH) return -1;
  let total = i + remaining;
  return total <= avail ? total : 0;
}

/**
 * Decode the whole packet at buf[off, off+avail) (fixed header included):
 * returns its total length, 0 if incomplete, -1 if malformed.
 */
export function decodeFrame(buf: Bytes, off: number, avail: number, out: Decoded): number {
  let total = frameLength(buf, off, avail);
  if (total <= 0) return total;
  let header = 2;
  while (buf[off + header - 1] >= 128) header++;
  let e = decodePacket(buf[off], buf, off + header, total - header, out);
  return e === ERR_NONE ? total : -1;
}
