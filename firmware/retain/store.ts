import { StoredMessage } from "../broker/message";

/**
 * Retained messages [MQTT-3.3.1-5], one per topic, bounded in count and in
 * bytes by the board profile. Keys are "t" + topic so no topic collides with
 * an Object property.
 */
export class RetainStore {
  private index: { [key: string]: StoredMessage } = {};
  /** Dense list for matching on subscribe. */
  list: StoredMessage[] = [];
  bytes = 0;
  maxCount: number;
  maxBytes: number;
  /** Retained publishes refused because the store was full. */
  refused = 0;

  constructor(maxCount: number, maxBytes: number) {
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
  }

  get count(): number {
    return this.list.length;
  }

  get(topic: string): StoredMessage | undefined {
    return this.index["t" + topic];
  }

  /** Store or replace; false (and nothing changed) when it would not fit. */
  set(topic: string, msg: StoredMessage): boolean {
    let key = "t" + topic;
    let old = this.index[key];
    const oldSize = old !== undefined ? old.topicLen + old.payloadLen : 0;
    let newCount = old !== undefined ? this.list.length : this.list.length + 1;
    if (newCount > this.maxCount || this.bytes - oldSize + (msg.topicLen + msg.payloadLen) > this.maxBytes) {
      this.refused++;
      return false;
    }
    if (old !== undefined) this.removeFromList(old);
    this.index[key] = msg;
    this.list.push(msg);
    this.bytes += (msg.topicLen + msg.payloadLen) - oldSize;
    return true;
  }

  /** An empty retained publish clears the topic [MQTT-3.3.1-10]. */
  remove(topic: string): void {
    let key = "t" + topic;
    let old = this.index[key];
    if (old === undefined) return;
    delete this.index[key];
    this.removeFromList(old);
    this.bytes -= (old.topicLen + old.payloadLen);
  }

  private removeFromList(msg: StoredMessage): void {
    let list = this.list;
    for (let i = 0; i < list.length; i++) {
      if (list[i] === msg) {
        list.splice(i, 1);
        return;
      }
    }
  }
}
