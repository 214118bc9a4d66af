import { text } from "../codec/text";
import { Bytes } from "../platform";

const SLASH = 47;
const PLUS = 43;
const HASH = 35;

/** A topic name may not be empty [MQTT-4.7.3-1] nor hold wildcards [MQTT-3.3.2-2]. */
export function validTopicName(buf: Bytes, off: number, len: number): boolean {
  return len > 0 && text.count(buf, off, len, PLUS) === 0 && text.count(buf, off, len, HASH) === 0;
}

/**
 * A topic filter may not be empty [MQTT-4.7.3-1]; `#` must be last and alone in
 * its level [MQTT-4.7.1-2]; `+` must be alone in its level [MQTT-4.7.1-3].
 */
export function validTopicFilter(buf: Bytes, off: number, len: number): boolean {
  if (len === 0) return false;
  let end = off + len;
  for (let i = off; i < end; i++) {
    let c = buf[i];
    if (c === PLUS || c === HASH) {
      if (i > off && buf[i - 1] !== SLASH) return false;
      if (c === HASH) {
        if (i !== end - 1) return false;
      } else if (i + 1 < end && buf[i + 1] !== SLASH) {
        return false;
      }
    }
  }
  return true;
}

/** Number of levels in a topic name or filter: separators + 1. */
export function countLevels(buf: Bytes, off: number, len: number): number {
  return text.count(buf, off, len, SLASH) + 1;
}
