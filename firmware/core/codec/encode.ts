import { Bytes } from "../platform";
import {
  CONNACK, CONNECT, DISCONNECT, PINGREQ, PINGRESP, PUBLISH, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE,
} from "./constants";
import { text } from "./text";

/**
 * Encoders: each writes one whole packet at `off` of `out` and returns its
 * length. They only write bytes; deciding what to send is the handlers' job.
 * Strings are binary strings (one char per byte, UTF-8 already applied).
 */

export function remainingLengthSize(n: number): number {
  if (n < 128) return 1;
  if (n < 16384) return 2;
  if (n < 2097152) return 3;
  return 4;
}

export function writeRemainingLength(out: Bytes, off: number, n: number): number {
  // nearly every packet a board sends: one byte, without the loop's statements
  if (n < 128) {
    out[off] = n;
    return 1;
  }
  let i = 0;
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit += 128;
    out[off + i] = digit;
    i++;
  } while (n > 0);
  return i;
}

function writeU16(out: Bytes, off: number, v: number): void {
  out[off] = Math.floor(v / 256);
  out[off + 1] = v % 256;
}

function writeString(out: Bytes, off: number, s: string): number {
  let n = s.length;
  writeU16(out, off, n);
  text.put(s, out, off + 2);
  return n + 2;
}

export function encodeConnack(out: Bytes, off: number, sessionPresent: boolean, code: number): number {
  out[off] = CONNACK * 16;
  out[off + 1] = 2;
  out[off + 2] = sessionPresent ? 1 : 0;
  out[off + 3] = code;
  return 4;
}

/** PUBACK, PUBREC, PUBREL (flags 2), PUBCOMP and UNSUBACK share one shape. */
export function encodeAck(out: Bytes, off: number, type: number, flags: number, packetId: number): number {
  out[off] = type * 16 + flags;
  out[off + 1] = 2;
  out[off + 2] = Math.floor(packetId / 256);
  out[off + 3] = packetId % 256;
  return 4;
}


export function encodeSuback(out: Bytes, off: number, packetId: number, codes: number[], count: number): number {
  out[off] = SUBACK * 16;
  let n = writeRemainingLength(out, off + 1, 2 + count);
  let p = off + 1 + n;
  writeU16(out, p, packetId);
  p += 2;
  for (let i = 0; i < count; i++) out[p + i] = codes[i];
  return p + count - off;
}

export function encodeEmpty(out: Bytes, off: number, type: number): number {
  out[off] = type * 16;
  out[off + 1] = 0;
  return 2;
}

export function encodePingreq(out: Bytes, off: number): number {
  return encodeEmpty(out, off, PINGREQ);
}


export function encodeDisconnect(out: Bytes, off: number): number {
  return encodeEmpty(out, off, DISCONNECT);
}

/** Size of a PUBLISH with this topic and payload length, fixed header included. */
export function publishSize(topicLen: number, payloadLen: number, qos: number): number {
  let rem = 2 + topicLen + (qos > 0 ? 2 : 0) + payloadLen;
  // remainingLengthSize written out: this is on every send, and on Espruino each resident function costs JsVars
  return 1 + (rem < 128 ? 1 : rem < 16384 ? 2 : rem < 2097152 ? 3 : 4) + rem;
}

/**
 * PUBLISH from a topic and payload held in byte buffers (a received packet or a
 * stored message). Returns the length; the packet id, when qos > 0, sits at
 * `publishPacketIdOffset` so one encoding can be sent to many receivers with
 * only those two bytes patched.
 */
/**
 * A PUBLISH's fixed header (first byte, remaining length `rem`) and its
 * topic's two length bytes at out[off]; returns where the topic goes. Every
 * PUBLISH the broker writes starts so (encodePublish, a stored message, a
 * QoS 0 copy whose body goes as a second piece).
 */
export function writePublishHead(out: Bytes, off: number, first: number, rem: number, topicLen: number): number {
  out[off] = first;
  let p = off + 1 + writeRemainingLength(out, off + 1, rem);
  // the two-byte field written out (writeU16), as in encodeAck: it is on every send
  out[p] = Math.floor(topicLen / 256);
  out[p + 1] = topicLen % 256;
  return p + 2;
}

/** @cold 190 */
export function encodePublish(
  out: Bytes, off: number, qos: number, retain: boolean, dup: boolean, packetId: number,
  topic: Bytes, topicOff: number, topicLen: number,
  payload: Bytes, payloadOff: number, payloadLen: number,
): number {
  let rem = 2 + topicLen + (qos > 0 ? 2 : 0) + payloadLen;
  let p = writePublishHead(out, off, PUBLISH * 16 + (dup ? 8 : 0) + qos * 2 + (retain ? 1 : 0), rem, topicLen);
  text.copy(out, p, topic, topicOff, topicLen);
  p += topicLen;
  if (qos > 0) {
    out[p] = Math.floor(packetId / 256);
    out[p + 1] = packetId % 256;
    p += 2;
  }
  text.copy(out, p, payload, payloadOff, payloadLen);
  return p + payloadLen - off;
}




// ---- the client side: used by tests, the load generator and bridges ----

export interface ConnectOptions {
  protocolName: string;
  protocolLevel: number;
  clientId: string;
  cleanSession: boolean;
  keepalive: number;
  username: string | undefined;
  password: string | undefined;
  willTopic: string | undefined;
  willMessage: string | undefined;
  willQos: number;
  willRetain: boolean;
}

export function encodeConnect(out: Bytes, off: number, o: ConnectOptions): number {
  let hasWill = o.willTopic !== undefined;
  let rem = 2 + o.protocolName.length + 4 + 2 + o.clientId.length;
  if (hasWill) rem += 4 + (o.willTopic as string).length + (o.willMessage !== undefined ? o.willMessage.length : 0);
  if (o.username !== undefined) rem += 2 + o.username.length;
  if (o.password !== undefined) rem += 2 + o.password.length;
  out[off] = CONNECT * 16;
  let p = off + 1 + writeRemainingLength(out, off + 1, rem);
  p += writeString(out, p, o.protocolName);
  out[p++] = o.protocolLevel;
  let flags = 0;
  if (o.username !== undefined) flags += 128;
  if (o.password !== undefined) flags += 64;
  if (hasWill) {
    if (o.willRetain) flags += 32;
    flags += o.willQos * 8 + 4;
  }
  if (o.cleanSession) flags += 2;
  out[p++] = flags;
  writeU16(out, p, o.keepalive);
  p += 2;
  p += writeString(out, p, o.clientId);
  if (hasWill) {
    p += writeString(out, p, o.willTopic as string);
    p += writeString(out, p, o.willMessage !== undefined ? o.willMessage : "");
  }
  if (o.username !== undefined) p += writeString(out, p, o.username);
  if (o.password !== undefined) p += writeString(out, p, o.password);
  return p - off;
}

/** SUBSCRIBE with filters and requested QoS (parallel lists). */
export function encodeSubscribe(out: Bytes, off: number, packetId: number, filters: string[], qos: number[]): number {
  let rem = 2;
  for (let i = 0; i < filters.length; i++) rem += 3 + filters[i].length;
  out[off] = SUBSCRIBE * 16 + 2;
  let p = off + 1 + writeRemainingLength(out, off + 1, rem);
  writeU16(out, p, packetId);
  p += 2;
  for (let j = 0; j < filters.length; j++) {
    p += writeString(out, p, filters[j]);
    out[p++] = qos[j];
  }
  return p - off;
}

export function encodeUnsubscribe(out: Bytes, off: number, packetId: number, filters: string[]): number {
  let rem = 2;
  for (let i = 0; i < filters.length; i++) rem += 2 + filters[i].length;
  out[off] = UNSUBSCRIBE * 16 + 2;
  let p = off + 1 + writeRemainingLength(out, off + 1, rem);
  writeU16(out, p, packetId);
  p += 2;
  for (let j = 0; j < filters.length; j++) p += writeString(out, p, filters[j]);
  return p - off;
}

/** PUBLISH from binary strings (client side, configuration, tests). */
export function encodePublishString(
  out: Bytes, off: number, topic: string, payload: string, qos: number, retain: boolean, dup: boolean, packetId: number,
): number {
  let rem = 2 + topic.length + (qos > 0 ? 2 : 0) + payload.length;
  out[off] = PUBLISH * 16 + (dup ? 8 : 0) + qos * 2 + (retain ? 1 : 0);
  let p = off + 1 + writeRemainingLength(out, off + 1, rem);
  p += writeString(out, p, topic);
  if (qos > 0) {
    writeU16(out, p, packetId);
    p += 2;
  }
  for (let i = 0; i < payload.length; i++) out[p + i] = payload.charCodeAt(i);
  return p + payload.length - off;
}
