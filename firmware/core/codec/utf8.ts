import { Bytes } from "../platform";
import { text } from "./text";

/**
 * Validate a UTF-8 string field in place. Refused, and so closing the
 * connection:
 * - anything not well-formed UTF-8 [MQTT-1.5.3-1]: overlong forms, surrogates
 *   U+D800..U+DFFF, truncated sequences, code points past U+10FFFF;
 * - U+0000 [MQTT-1.5.3-2];
 * - mosquitto's policy where the spec says MAY [MQTT-1.5.3]: control characters
 *   U+0001..U+001F and U+007F..U+009F, and the non-characters U+FDD0..U+FDEF
 *   and U+xxFFFE/U+xxFFFF.
 * Integer arithmetic only (no bitwise operators: the core compiles to Lua 5.1).
 * @cold 70
 */
export function validUtf8(buf: Bytes, off: number, len: number): boolean {
  // the common case in one call: printable ASCII is valid, and native on Espruino
  if (text.printable(buf, off, len)) return true;
  const end = off + len;
  let i = off;
  while (i < end) {
    const c = buf[i];
    if (c < 0x80) {
      if (c < 0x20 || c === 0x7f) return false;
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1; min = 0x80; cp = c - 0xc0;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2; min = 0x800; cp = c - 0xe0;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3; min = 0x10000; cp = c - 0xf0;
    } else {
      return false;
    }
    if (i + need >= end) return false; // truncated sequence
    for (let k = 1; k <= need; k++) {
      const cc = buf[i + k];
      if (cc < 0x80 || cc > 0xbf) return false;
      cp = cp * 64 + (cc - 0x80);
    }
    if (cp < min || cp > 0x10ffff) return false;
    if (cp >= 0xd800 && cp <= 0xdfff) return false;
    if (cp <= 0x9f) return false; // U+0080..U+009F
    if (cp >= 0xfdd0 && cp <= 0xfdef) return false;
    if (cp % 65536 >= 0xfffe) return false;
    i += need + 1;
  }
  return true;
}
