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

/**
 * validTopicFilter on the filter's bytes, in place: for the tests' decoder
 * (codec/decode.ts), which makes no string of what it reads. The broker
 * checks the string it keeps anyway, with the native indexOf; a property
 * test holds the two to one answer (test/unit/topics.test.ts).
 */
export function validTopicFilterAt(buf: Bytes, off: number, len: number): boolean {
  if (len === 0) return false;
  const end = off + len;
  for (let i = off; i < end; i++) {
    const c = buf[i];
    if (c !== PLUS && c !== HASH) continue;
    // alone in its level: a separator (or the filter's edge) on both sides; "#" last of all
    if (i > off && buf[i - 1] !== SLASH) return false;
    if (c === HASH && i !== end - 1) return false;
    if (c === PLUS && i + 1 < end && buf[i + 1] !== SLASH) return false;
  }
  return true;
}

/** Number of levels in a topic name or filter: separators + 1. */
export function countLevels(buf: Bytes, off: number, len: number): number {
  return text.count(buf, off, len, SLASH) + 1;
}
