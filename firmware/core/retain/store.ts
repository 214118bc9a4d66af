import { StoredMessage } from "../message";

/**
 * Retained messages [MQTT-3.3.1-5], one per topic, bounded in count and in
 * bytes by the board profile. Keys are "t" + topic so no topic collides with
 * an Object property.
 */
export class RetainStore {
  /** By "t" + topic. */
  index: { [key: string]: StoredMessage } = {};
  /** Dense list for matching on subscribe; its length is the count. */
  list: StoredMessage[] = [];
  /**
   * Parallel to `list`: when each message was stored, increasing along the
   * list (a new or replaced message goes to the end). A replay on subscribe
   * remembers the last one it sent (broker/retained_replay.ts), so it resumes
   * at the right place however the list changed in between.
   */
  seqs: number[] = [];
  nextSeq = 0;
  /** Moves on when the sequence numbers are renumbered (they stay below 2^24, see platform.ts). */
  epoch = 0;
  bytes = 0;
  maxCount: number;
  maxBytes: number;
  /** Retained publishes refused because the store was full. */
  refused = 0;

  constructor(maxCount: number, maxBytes: number) {
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
  }
}

/*
 * The store's operations are functions, not methods: on Espruino a method is
 * resident for as long as the class exists, and these run only when a
 * retained message arrives, is delivered on subscribe, or is saved.
 */

export function retainedGet(store: RetainStore, topic: string): StoredMessage | undefined {
  return store.index["t" + topic];
}

/** Store or replace; false (and nothing changed) when it would not fit. */
export function retainedSet(store: RetainStore, topic: string, msg: StoredMessage): boolean {
  let key = "t" + topic;
  let old = store.index[key];
  const oldSize = old !== undefined ? old.topicLen + old.payloadLen : 0;
  let newCount = old !== undefined ? store.list.length : store.list.length + 1;
  if (newCount > store.maxCount || store.bytes - oldSize + (msg.topicLen + msg.payloadLen) > store.maxBytes) {
    store.refused++;
    return false;
  }
  if (old !== undefined) removeFromList(store, old);
  store.index[key] = msg;
  store.list.push(msg);
  if (store.nextSeq >= 16000000) renumber(store);
  store.seqs.push(store.nextSeq++);
  store.bytes += (msg.topicLen + msg.payloadLen) - oldSize;
  return true;
}

/** An empty retained publish clears the topic [MQTT-3.3.1-10]. */
export function retainedRemove(store: RetainStore, topic: string): void {
  let key = "t" + topic;
  let old = store.index[key];
  if (old === undefined) return;
  delete store.index[key];
  removeFromList(store, old);
  store.bytes -= (old.topicLen + old.payloadLen);
}

/** Sequence numbers from 0 again; a replay that sees the new epoch starts over (resends, never skips). */
function renumber(store: RetainStore): void {
  for (let i = 0; i < store.seqs.length; i++) store.seqs[i] = i;
  store.nextSeq = store.seqs.length;
  store.epoch++;
}

function removeFromList(store: RetainStore, msg: StoredMessage): void {
  let list = store.list;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === msg) {
      list.splice(i, 1);
      store.seqs.splice(i, 1);
      return;
    }
  }
}
