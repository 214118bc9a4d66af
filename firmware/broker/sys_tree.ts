import { filterMatchesString } from "../topics/match";
import { stringToBytes } from "../topics/validate";
import type { Broker } from "./broker";
import { deliverOne, routePublish } from "./deliver";
import { StoredMessage } from "./message";
import { Session } from "../session/session";

export const BROKER_VERSION = "esp-mqtt-broker 0.1.0";

/**
 * The $SYS tree, as mosquitto names it where it applies. Values are computed
 * when needed, never stored: every profile.sysIntervalMs they go to current
 * subscribers, and a new `$SYS` subscription gets them at once with the
 * retain flag, as mosquitto's retained $SYS messages would arrive.
 */
const SYS_TOPICS = [
  "$SYS/broker/version",
  "$SYS/broker/uptime",
  "$SYS/broker/clients/connected",
  "$SYS/broker/clients/total",
  "$SYS/broker/messages/received",
  "$SYS/broker/messages/sent",
  "$SYS/broker/publish/messages/dropped",
  "$SYS/broker/retained messages/count",
  "$SYS/broker/subscriptions/count",
  "$SYS/broker/heap/current",
];

function sysValue(b: Broker, i: number): string {
  if (i === 0) return BROKER_VERSION;
  if (i === 1) return Math.floor((b.platform.now() - b.startedAt) / 1000) + " seconds";
  if (i === 2) return "" + b.clientCount;
  if (i === 3) return "" + b.sessions.count;
  if (i === 4) return "" + b.stats.messagesReceived;
  if (i === 5) return "" + b.stats.messagesSent;
  if (i === 6) return "" + b.stats.publishDropped;
  if (i === 7) return "" + b.retained.count;
  if (i === 8) return "" + b.topics.count;
  // JsVars on Espruino, bytes on Node, KB on Lua
  return b.platform.memoryUsed !== undefined ? "" + b.platform.memoryUsed() : "0";
}

/** Call from the adapter's tick: publishes the tree when the interval has passed. */
export function publishSys(b: Broker): void {
  const interval = b.profile.sysIntervalMs;
  if (interval <= 0) return;
  const now = b.platform.now();
  if (b.sysPublishedAt >= 0 && now - b.sysPublishedAt < interval) return;
  b.sysPublishedAt = now;
  for (let i = 0; i < SYS_TOPICS.length; i++) {
    const topic = SYS_TOPICS[i];
    const value = sysValue(b, i);
    const buf = b.platform.alloc.bytes(topic.length + value.length);
    stringToBytes(topic, buf, 0);
    stringToBytes(value, buf, topic.length);
    routePublish(b, buf, 0, topic.length, topic.length, value.length, 0, undefined);
  }
}

/** A new subscription to `filter`: send the matching $SYS values now, retain flag set. */
export function deliverSysTo(b: Broker, session: Session, filter: string): void {
  if (filter.charAt(0) !== "$") return;
  for (let i = 0; i < SYS_TOPICS.length; i++) {
    const topic = SYS_TOPICS[i];
    if (!filterMatchesString(filter, topic)) continue;
    const value = sysValue(b, i);
    const data = b.platform.alloc.bytes(topic.length + value.length);
    stringToBytes(topic, data, 0);
    stringToBytes(value, data, topic.length);
    deliverOne(b, session, new StoredMessage(data, topic.length, value.length, 0, true), 0, true);
  }
}
