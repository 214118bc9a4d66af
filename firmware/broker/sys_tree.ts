import { filterMatchesBytes } from "../topics/match";
import { stringToBytes } from "../topics/validate";
import type { Broker } from "./broker";
import { deliverOne, hasRoom, routePublish } from "./deliver";
import { StoredMessage } from "./message";
import { Session } from "../session/session";

export const BROKER_VERSION = "esp-mqtt-broker 0.1.0";

/**
 * The $SYS tree, as mosquitto names it where it applies. Values are computed
 * when needed, never stored: every profile.sysIntervalMs they go to current
 * subscribers, and a new `$SYS` subscription gets them at once with the
 * retain flag, as mosquitto's retained $SYS messages would arrive.
 */
function sysTree(b: Broker, each: (topic: string, value: string) => void): void {
  // built when asked: a table kept in memory would cost JsVars on a board
  const names = "version|uptime|clients/connected|clients/total|messages/received|messages/sent|" +
    "publish/messages/dropped|retained messages/count|subscriptions/count|heap/current";
  const topics = names.split("|");
  const values = [
    BROKER_VERSION,
    Math.floor((b.platform.now() - b.startedAt) / 1000) + " seconds",
    "" + b.clientCount,
    "" + b.sessions.count,
    "" + b.stats.messagesReceived,
    "" + b.stats.messagesSent,
    "" + b.stats.publishDropped,
    "" + b.retained.list.length,
    "" + b.topics.count,
    // JsVars on Espruino, bytes on Node, KB on Lua
    b.platform.memoryUsed !== undefined ? "" + b.platform.memoryUsed() : "0",
  ];
  for (let i = 0; i < topics.length; i++) each("$SYS/broker/" + topics[i], values[i]);
}

/** Call from the adapter's tick: publishes the tree when the interval has passed. */
export function publishSys(b: Broker): void {
  const interval = b.profile.sysIntervalMs;
  if (interval <= 0) return;
  const now = b.platform.now();
  if (b.sysPublishedAt >= 0 && now - b.sysPublishedAt < interval) return;
  b.sysPublishedAt = now;
  sysTree(b, (topic, value) => {
    const buf = b.platform.alloc.bytes(topic.length + value.length);
    stringToBytes(topic, buf, 0);
    stringToBytes(value, buf, topic.length);
    routePublish(b, buf, 0, topic.length, topic.length, value.length, 0, undefined, undefined);
  });
}

/**
 * A new subscription to `filter`: send the matching $SYS values now, retain
 * flag set. They are QoS 0 and computed afresh every interval, so past the
 * send-queue bound they are dropped as live QoS 0 is.
 */
export function deliverSysTo(b: Broker, session: Session, filter: string): void {
  if (filter.charAt(0) !== "$") return;
  sysTree(b, (topic, value) => {
    if (session.connId < 0 || !hasRoom(b, session.connId)) return;
    const data = b.platform.alloc.bytes(topic.length + value.length);
    stringToBytes(topic, data, 0);
    if (!filterMatchesBytes(filter, data, 0, topic.length)) return;
    stringToBytes(value, data, topic.length);
    deliverOne(b, session, new StoredMessage(data, topic.length, value.length, 0, true), 0, true);
  });
}
