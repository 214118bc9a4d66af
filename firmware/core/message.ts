import { text } from "./codec/text";
import { Allocator, Bytes } from "./platform";

/**
 * A message the broker keeps beyond the packet that brought it: a retained
 * message, a will, or a QoS 1/2 message queued or in flight. One copy is
 * shared by every session that holds it (mosquitto's refcounted message);
 * topic and payload live in one buffer, topic first. A plain object
 * (session.ts InFlight says why).
 */
export interface StoredMessage {
  data: Bytes;
  topicLen: number;
  payloadLen: number;
  qos: number;
  retain: boolean;
}

export function storeMessage(
  alloc: Allocator, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number,
  qos: number, retain: boolean,
): StoredMessage {
  let data = alloc.bytes(topicLen + payloadLen);
  text.copy(data, 0, src, topicOff, topicLen);
  text.copy(data, topicLen, src, payloadOff, payloadLen);
  return { data: data, topicLen: topicLen, payloadLen: payloadLen, qos: qos, retain: retain };
}
