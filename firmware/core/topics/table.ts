import { Bytes } from "../platform";

const SLASH = 47;
const DOLLAR = 36;

/** What the table needs of a subscriber: scratch fields for de-duplicating one match. */
export interface Subscriber {
  matchStamp: number;
  matchQos: number;
}

/** What the broker needs of a subscription table: the trie below, or the flat list of list.ts. */
export interface SubscriptionIndex<T extends Subscriber> {
  count: number;
  capacity: number;
  add(filter: string, subscriber: T, qos: number): number;
  remove(filter: string, subscriber: T): boolean;
  match(buf: Bytes, off: number, len: number, out: T[]): number;
}

export class SubEntry<T extends Subscriber> {
  subscriber: T;
  qos: number;
  constructor(subscriber: T, qos: number) {
    this.subscriber = subscriber;
    this.qos = qos;
  }
}

class TopicNode<T extends Subscriber> {
  level: string;
  parent: TopicNode<T> | undefined;
  children: TopicNode<T>[] = [];
  plus: TopicNode<T> | undefined = undefined;
  hash: TopicNode<T> | undefined = undefined;
  subs: SubEntry<T>[] = [];
  constructor(level: string, parent: TopicNode<T> | undefined) {
    this.level = level;
    this.parent = parent;
  }
}

export const ADD_NEW = 1;
export const ADD_REPLACED = 0;
export const ADD_FULL = -1;

/**
 * The subscription table: a trie of filter levels with `+` and `#` children,
 * bounded to `capacity` subscriptions in all. Matching walks the topic's bytes
 * in place and fills a caller's list with each subscriber once, at the highest
 * QoS of its matching filters [MQTT-3.3.5-1]; it allocates nothing.
 */
export class TopicTable<T extends Subscriber> implements SubscriptionIndex<T> {
  root: TopicNode<T> = new TopicNode<T>("", undefined);
  count = 0;
  capacity: number;
  private stamp = 0;
  // state of the match in progress (kept here, not in closures)
  private mBuf: Bytes | undefined = undefined;
  private mEnd = 0;
  private mOut: T[] = [];
  private mCount = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Add or replace [MQTT-3.8.4-3] `subscriber`'s subscription to `filter`. */
  add(filter: string, subscriber: T, qos: number): number {
    let node = this.findNode(filter, true) as TopicNode<T>;
    let subs = node.subs;
    for (let i = 0; i < subs.length; i++) {
      if (subs[i].subscriber === subscriber) {
        subs[i].qos = qos;
        return ADD_REPLACED;
      }
    }
    if (this.count >= this.capacity) {
      this.prune(node);
      return ADD_FULL;
    }
    subs.push(new SubEntry<T>(subscriber, qos));
    this.count++;
    return ADD_NEW;
  }

  remove(filter: string, subscriber: T): boolean {
    let node = this.findNode(filter, false);
    if (node === undefined) return false;
    let subs = node.subs;
    for (let i = 0; i < subs.length; i++) {
      if (subs[i].subscriber === subscriber) {
        subs.splice(i, 1);
        this.count--;
        this.prune(node);
        return true;
      }
    }
    return false;
  }

  /**
   * Fill `out` with each subscriber matching the topic in buf[off, off+len),
   * setting its matchQos; returns how many. A topic starting with `$` is not
   * matched by a leading `+` or `#` [MQTT-4.7.2-1].
   */
  match(buf: Bytes, off: number, len: number, out: T[]): number {
    this.stamp++;
    if (this.stamp > 16000000) this.stamp = 1; // stays an exact integer everywhere
    this.mBuf = buf;
    this.mEnd = off + len;
    this.mOut = out;
    this.mCount = 0;
    let dollar = len > 0 && buf[off] === DOLLAR;
    this.matchLevel(this.root, off, dollar);
    this.mBuf = undefined;
    return this.mCount;
  }

  private matchLevel(node: TopicNode<T>, start: number, isDollarRoot: boolean): void {
    let buf = this.mBuf as Bytes;
    let end = this.mEnd;
    let le = start;
    while (le < end && buf[le] !== SLASH) le++;
    if (!isDollarRoot) {
      if (node.hash !== undefined) this.collect(node.hash);
      if (node.plus !== undefined) this.descend(node.plus, le);
    }
    let children = node.children;
    let n = le - start;
    for (let i = 0; i < children.length; i++) {
      let child = children[i];
      let level = child.level;
      if (level.length !== n) continue;
      let k = 0;
      while (k < n && level.charCodeAt(k) === buf[start + k]) k++;
      if (k === n) this.descend(child, le);
    }
  }

  private descend(node: TopicNode<T>, levelEnd: number): void {
    if (levelEnd >= this.mEnd) {
      this.collect(node);
      // "sport/#" also matches "sport" [MQTT-4.7.1-2]
      if (node.hash !== undefined) this.collect(node.hash);
    } else {
      this.matchLevel(node, levelEnd + 1, false);
    }
  }

  private collect(node: TopicNode<T>): void {
    let subs = node.subs;
    let stamp = this.stamp;
    for (let i = 0; i < subs.length; i++) {
      let e = subs[i];
      let s = e.subscriber;
      if (s.matchStamp !== stamp) {
        s.matchStamp = stamp;
        s.matchQos = e.qos;
        this.mOut[this.mCount] = s;
        this.mCount++;
      } else if (e.qos > s.matchQos) {
        s.matchQos = e.qos;
      }
    }
  }

  private findNode(filter: string, create: boolean): TopicNode<T> | undefined {
    let node = this.root;
    let start = 0;
    let flen = filter.length;
    while (true) {
      let slash = filter.indexOf("/", start);
      let le = slash < 0 ? flen : slash;
      let level = filter.substring(start, le);
      let next: TopicNode<T> | undefined = undefined;
      if (level === "+") {
        next = node.plus;
        if (next === undefined && create) {
          next = new TopicNode<T>(level, node);
          node.plus = next;
        }
      } else if (level === "#") {
        next = node.hash;
        if (next === undefined && create) {
          next = new TopicNode<T>(level, node);
          node.hash = next;
        }
      } else {
        let children = node.children;
        for (let i = 0; i < children.length; i++) {
          if (children[i].level === level) {
            next = children[i];
            break;
          }
        }
        if (next === undefined && create) {
          next = new TopicNode<T>(level, node);
          children.push(next);
        }
      }
      if (next === undefined) return undefined;
      node = next;
      if (slash < 0) return node;
      start = slash + 1;
    }
  }

  /** Drop nodes left empty, so unsubscribing gives the memory back. */
  private prune(node: TopicNode<T>): void {
    let n: TopicNode<T> | undefined = node;
    while (n !== undefined && n.parent !== undefined && n.subs.length === 0 && n.children.length === 0 && n.plus === undefined && n.hash === undefined) {
      let parent: TopicNode<T> = n.parent;
      if (parent.plus === n) parent.plus = undefined;
      else if (parent.hash === n) parent.hash = undefined;
      else {
        let ch = parent.children;
        for (let i = 0; i < ch.length; i++) {
          if (ch[i] === n) {
            ch.splice(i, 1);
            break;
          }
        }
      }
      n = parent;
    }
  }
}
