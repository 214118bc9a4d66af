import { filterMatchesBytes } from "../topics/match";

import type { BrokerState } from "./state";
import { CONNECTED } from "./connection";
import { deliverOne, routePublish } from "./deliver";
import { StoredMessage } from "../message";
import { Session } from "../session/session";
import { text } from "../codec/text";

export const BROKER_VERSION = "esp-mqtt-broker 0.1.0";

/**
 * The $SYS tree, as mosquitto names it where it applies. Values are computed
 * when needed, never stored: every profile.sysIntervalMs they go to current
 * subscribers, and a new `$SYS` subscription gets them at once with the
 * retain flag, as mosquitto's retained $SYS messages would arrive.
 */
function sysTree(b: BrokerState, each: (topic: string, value: string) => void): void {
  // built when asked: a table kept in memory would cost JsVars on a board
  const names = "version|uptime|clients/connected|clients/total|messages/received|messages/sent|" +
    "publish/messages/received|publish/messages/sent|publish/messages/dropped|bytes/received|bytes/sent|" +
    "retained messages/count|subscriptions/count|heap/current|clients/list";
  const topics = names.split("|");
  const values = [
    BROKER_VERSION,
    Math.floor((b.platform.now() - b.startedAt) / 1000) + " seconds",
    "" + b.clientCount,
    "" + b.sessions.count,
    "" + b.stats.messagesReceived,
    "" + b.stats.messagesSent,
    "" + b.stats.publishReceived,
    "" + b.stats.publishSent,
    "" + b.stats.publishDropped,
    "" + b.stats.bytesReceived,
    "" + b.stats.bytesSent,
    "" + b.retained.list.length,
    "" + b.topics.count,
    // JsVars on Espruino, bytes on Node, KB on Lua
    b.platform.memoryUsed !== undefined ? "" + b.platform.memoryUsed() : "0",
    clientList(b),
  ];
  for (let i = 0; i < topics.length; i++) each("$SYS/broker/" + topics[i], values[i]);
  // each bridge beside its state (the bridge publishes .../state itself, as mosquitto): what it
  // holds for the remote, queued or in flight, and what it dropped (ours; mosquitto has neither)
  const bridges = b.bridges;
  if (bridges !== undefined) {
    for (let i = 0; i < bridges.length; i++) {
      const br = bridges[i];
      const base = "$SYS/broker/connection/" + br.cfg.clientId + "/";
      each(base + "queued", "" + br.recs.length);
      each(base + "dropped", "" + br.stats.dropped);
    }
  }
}

/** Longest client id, address or filter shown in clients/list; longer ones end in "~". */
const LIST_FIELD = 64;
/** Filters shown per client in clients/list; then "+N more". */
const LIST_FILTERS = 8;
/** Largest clients/list payload (and never more than half the profile's packet size); then "+N more". */
const LIST_BYTES = 4096;

/**
 * A field for clients/list: at most LIST_FIELD bytes (then "~"), its tabs
 * and line ends as "?". Checked with indexOf first: a loop per character
 * costs a board tens of microseconds a character, and they are rare.
 */
function listField(s: string): string {
  const long = s.length > LIST_FIELD;
  let t = long ? s.substring(0, LIST_FIELD) : s;
  if (t.indexOf("\t") >= 0 || t.indexOf("\n") >= 0 || t.indexOf("\r") >= 0) {
    let out = "";
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      out += c === 9 || c === 10 || c === 13 ? "?" : t.charAt(i);
    }
    t = out;
  }
  return long ? t + "~" : t;
}

/**
 * $SYS/broker/clients/list (ours; mosquitto has none): one line per
 * connected client, `client id TAB address TAB filter TAB filter ...`, at
 * most maxClients lines and LIST_BYTES in all, each field cut to LIST_FIELD.
 * What does not fit is counted on a last line `+N more`.
 */
function clientList(b: BrokerState): string {
  let cap = Math.floor(b.profile.maxPacketSize / 2);
  if (cap > LIST_BYTES) cap = LIST_BYTES;
  let out = "";
  let shown = 0;
  let more = 0;
  const list = b.conns;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === undefined || c.state !== CONNECTED) continue;
    if (shown >= b.profile.maxClients) {
      more++;
      continue;
    }
    let line = listField(c.clientId) + "\t" + listField(c.remote);
    const s = c.session;
    if (s !== undefined) {
      const n = s.filters.length;
      for (let j = 0; j < n && j < LIST_FILTERS; j++) line += "\t" + listField(s.filters[j]);
      if (n > LIST_FILTERS) line += "\t+" + (n - LIST_FILTERS) + " more";
    }
    if (out.length + line.length + 1 > cap - 16) {
      more++;
      continue;
    }
    out += shown > 0 ? "\n" + line : line;
    shown++;
  }
  if (more > 0) out += (shown > 0 ? "\n+" : "+") + more + " more";
  return out;
}

/**
 * Call from the adapter's tick: publishes the tree when the interval has passed.
 * @cold 230
 */
export function publishSys(b: BrokerState): void {
  const interval = b.profile.sysIntervalMs;
  if (interval <= 0) return;
  const now = b.platform.now();
  if (b.sysPublishedAt >= 0 && now - b.sysPublishedAt < interval) return;
  b.sysPublishedAt = now;
  sysTree(b, (topic, value) => {
    const buf = b.platform.alloc.bytes(topic.length + value.length);
    text.put(topic, buf, 0);
    text.put(value, buf, topic.length);
    routePublish(b, buf, 0, topic.length, topic.length, value.length, 0, undefined, undefined, undefined);
  });
}

/**
 * A new subscription to `filter`: send the matching $SYS values now, retain
 * flag set. They are QoS 0 and computed afresh every interval, so past the
 * send-queue bound they are dropped as live QoS 0 is.
 * @cold 120
 */
export function deliverSysTo(b: BrokerState, session: Session, filter: string): void {
  if (filter.charAt(0) !== "$") return;
  sysTree(b, (topic, value) => {
    if (session.connId < 0 || b.transport.queued(session.connId) > b.profile.maxSendQueueBytes) return;
    const data = b.platform.alloc.bytes(topic.length + value.length);
    text.put(topic, data, 0);
    if (!filterMatchesBytes(filter, data, 0, topic.length)) return;
    text.put(value, data, topic.length);
    deliverOne(b, session, { data: data, topicLen: topic.length, payloadLen: value.length, qos: 0, retain: true }, 0, true);
  });
}
