import { text } from "../codec/text";
import { Bytes } from "../platform";

const SLASH = 47;
const PLUS = 43;
const HASH = 35;

/**
 * A topic name may not be empty [MQTT-4.7.3-1] nor hold wildcards [MQTT-3.3.2-2].
 * @cold 80
 */
export function validTopicName(buf: Bytes, off: number, len: number): boolean {
  return len > 0 && text.count(buf, off, len, PLUS) === 0 && text.count(buf, off, len, HASH) === 0;
}

/**
 * A topic filter may not be empty [MQTT-4.7.3-1]; `#` must be last and alone in
 * its level [MQTT-4.7.1-2]; `+` must be alone in its level [MQTT-4.7.1-3].
 * Works on the filter's string and visits only its wildcards (indexOf is
 * native on every runtime): a loop over each byte would cost milliseconds a
 * SUBSCRIBE on Espruino.
 */
export function validTopicFilter(filter: string): boolean {
  const n = filter.length;
  if (n === 0) return false;
  const hash = filter.indexOf("#");
  if (hash >= 0 && (hash !== n - 1 || (hash > 0 && filter.charAt(hash - 1) !== "/"))) return false;
  let plus = filter.indexOf("+");
  while (plus >= 0) {
    if (plus > 0 && filter.charAt(plus - 1) !== "/") return false;
    if (plus + 1 < n && filter.charAt(plus + 1) !== "/") return false;
    plus = filter.indexOf("+", plus + 1);
  }
  return true;
}

/** Number of levels in a topic name or filter: separators + 1. */
export function countLevels(buf: Bytes, off: number, len: number): number {
  return text.count(buf, off, len, SLASH) + 1;
}
