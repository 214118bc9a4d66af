import { RetainStore } from "../retain/store";
import { RetainedReplay, Session } from "../session/session";
import { matching } from "../topics/match";
import type { BrokerState } from "./state";
import { deliverOne } from "./deliver";

/*
 * Retained messages sent for a new subscription [MQTT-3.3.1-6], as a cursor
 * over the retained store rather than all at once: one SUBSCRIBE to `#` may
 * match the whole store, and each repeat of the filter must send it again
 * [MQTT-3.8.4-3]. The replay goes on while the connection's send queue is
 * within the profile's bound and its in-flight window has room, and pauses
 * otherwise; it resumes when the socket drains, an acknowledgement frees the
 * window, or at the next tick (Broker.drained). Nothing is dropped, and what
 * is held is one cursor per filter (a filter subscribed again while its
 * replay is pending starts that replay over), so a session holds at most
 * maxSubscriptionsPerClient of them.
 */

/** Queue the retained replay for a filter just granted at `qos`. */
export function startReplay(b: BrokerState, s: Session, filter: string, qos: number): void {
  if (b.retained.list.length === 0) return;
  let list = s.replays;
  if (list === undefined) {
    list = [];
    s.replays = list;
  }
  for (let i = 0; i < list.length; i++) {
    if (list[i].filter === filter) {
      list[i].qos = qos;
      list[i].after = -1;
      return;
    }
  }
  list.push({ filter: filter, qos: qos, after: -1, epoch: b.retained.epoch });
}

/** An unsubscribed filter's pending replay goes with it. */
export function stopReplay(s: Session, filter: string): void {
  const list = s.replays;
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) {
    if (list[i].filter === filter) {
      list.splice(i, 1);
      break;
    }
  }
  if (list.length === 0) s.replays = undefined;
}

/** Index of the first message stored after sequence number `after`. */
function firstAfter(store: RetainStore, after: number): number {
  const seqs = store.seqs;
  let lo = 0;
  let hi = seqs.length;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (seqs[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Go on with a session's pending replays as far as its connection has room. */
export function continueReplays(b: BrokerState, s: Session): void {
  const list = s.replays;
  if (list === undefined) return;
  const store = b.retained;
  const maxInflight = b.profile.maxInflight;
  while (list.length > 0) {
    const r = list[0];
    if (r.epoch !== store.epoch) {
      r.epoch = store.epoch;
      r.after = -1;
    }
    let i = firstAfter(store, r.after);
    while (i < store.list.length) {
      const msg = store.list[i];
      if (matching.bytes(r.filter, msg.data, 0, msg.topicLen)) {
        const qos = msg.qos < r.qos ? msg.qos : r.qos;
        if (s.connId < 0 || b.transport.queued(s.connId, true) > b.profile.maxSendQueueBytes ||
          (qos > 0 && s.inflight.length >= maxInflight)) return;
        deliverOne(b, s, msg, qos, true);
      }
      r.after = store.seqs[i];
      i++;
    }
    list.shift();
  }
  s.replays = undefined;
}
