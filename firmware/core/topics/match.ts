import { Bytes } from "../platform";

const SLASH = 47;
const PLUS = 43;
const HASH = 35;
const DOLLAR = 36;

/**
 * Does topic filter `filter` (a binary string) match the topic name held in
 * buf[off, off+len)? `+` is one level, `#` the rest (and the parent level);
 * a topic starting with `$` is not matched by a leading wildcard [MQTT-4.7.2-1].
 * Allocates nothing: walks both by index.
 */
export function filterMatchesBytes(filter: string, buf: Bytes, off: number, len: number): boolean {
  let flen = filter.length;
  let fi = 0;
  let ti = 0;
  if (len > 0 && buf[off] === DOLLAR && flen > 0) {
    let f0 = filter.charCodeAt(0);
    if (f0 === PLUS || f0 === HASH) return false;
  }
  while (fi < flen) {
    let fc = filter.charCodeAt(fi);
    if (fc === HASH) {
      // `#` matches the parent level too: "a/#" matches "a" [MQTT-4.7.1-2]
      return true;
    }
    if (fc === PLUS) {
      // consume one topic level
      while (ti < len && buf[off + ti] !== SLASH) ti++;
      fi++;
    } else {
      // literal level: compare up to the next '/'
      while (fi < flen) {
        fc = filter.charCodeAt(fi);
        if (fc === SLASH) break;
        if (ti >= len || buf[off + ti] !== fc) return false;
        fi++;
        ti++;
      }
      if (ti < len && buf[off + ti] !== SLASH) return false;
    }
    // both at a level end
    if (fi >= flen) return ti >= len;
    // filter at '/'
    fi++;
    if (ti >= len) {
      // topic ended: only "/#" may follow ("a/#" matches "a")
      return fi < flen && filter.charCodeAt(fi) === HASH && fi + 1 === flen;
    }
    ti++; // skip topic '/'
  }
  return ti >= len && fi >= flen;
}

/**
 * The match the broker runs for every subscription a new topic meets and for
 * every retained message a SUBSCRIBE replays: the loop above on the desktop
 * and in Lua; a board's adapter installs a native one before the broker
 * starts (firmware/espruino/text.ts), where each statement of the loop costs
 * tens of microseconds.
 */
export const matching: { bytes: (this: void, filter: string, buf: Bytes, off: number, len: number) => boolean } = {
  bytes: filterMatchesBytes,
};

/** The same match for a topic given as a binary string (configuration, retained store keys, tests). */
export function filterMatchesString(filter: string, topic: string): boolean {
  let flen = filter.length;
  let len = topic.length;
  let fi = 0;
  let ti = 0;
  if (len > 0 && topic.charCodeAt(0) === DOLLAR && flen > 0) {
    let f0 = filter.charCodeAt(0);
    if (f0 === PLUS || f0 === HASH) return false;
  }
  while (fi < flen) {
    let fc = filter.charCodeAt(fi);
    if (fc === HASH) return true;
    if (fc === PLUS) {
      while (ti < len && topic.charCodeAt(ti) !== SLASH) ti++;
      fi++;
    } else {
      while (fi < flen) {
        fc = filter.charCodeAt(fi);
        if (fc === SLASH) break;
        if (ti >= len || topic.charCodeAt(ti) !== fc) return false;
        fi++;
        ti++;
      }
      if (ti < len && topic.charCodeAt(ti) !== SLASH) return false;
    }
    if (fi >= flen) return ti >= len;
    fi++;
    if (ti >= len) {
      return fi < flen && filter.charCodeAt(fi) === HASH && fi + 1 === flen;
    }
    ti++;
  }
  return ti >= len && fi >= flen;
}
