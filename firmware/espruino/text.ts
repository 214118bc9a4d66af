/**
 * The core's text operations (codec/text.ts) in Espruino's built-ins: each is
 * one or two native calls where the core's loops would run an interpreted
 * statement per byte (PLATFORM.md: ~56 us a loop iteration, a few us a
 * built-in). Typed arrays here are Uint8Arrays; strings are binary strings.
 */
import { text } from "../core/codec/text";
import { filterMatchesBytes, matching } from "../core/topics/match";
import { Bytes } from "../core/platform";

declare const E: any;

/** Set them, once, before the broker starts (resident: tools/cold-roots.ts says why). */
export function installText(): void {
  const str = (buf: Bytes, off: number, len: number): string =>
    len === 0 ? "" : E.toString((buf as any).subarray(off, off + len));
  text.str = str;
  text.copy = (dst: Bytes, dstOff: number, src: Bytes, srcOff: number, len: number) => {
    if (len > 0) (dst as any).set((src as any).subarray(srcOff, srcOff + len), dstOff);
  };
  text.put = (s: string, out: Bytes, off: number) => {
    if (s.length > 0) (out as any).set(s, off);
  };
  text.printable = (buf: Bytes, off: number, len: number) => !/[^\x20-\x7e]/.test(str(buf, off, len));
  text.count = (buf: Bytes, off: number, len: number, byte: number) =>
    str(buf, off, len).split(String.fromCharCode(byte)).length - 1;
  matching.bytes = nativeMatch;
}

/**
 * A subscription's filter against a topic in a few native calls: an exact
 * filter by ===, one with "#" but no "+" by indexOf, one with "+" by a RegExp
 * made for the call (kept, one would cost 12 JsVars a subscription). A
 * filter holding a character a RegExp reads as its own goes to the core's loop.
 * Filters are valid here (SUBSCRIBE checked them): "#" only last, alone.
 */
function nativeMatch(filter: string, buf: Bytes, off: number, len: number): boolean {
  const topic = len === 0 ? "" : E.toString((buf as any).subarray(off, off + len));
  const plus = filter.indexOf("+");
  const hash = filter.indexOf("#");
  if (plus < 0 && hash < 0) return filter === topic;
  // a leading wildcard does not match a topic starting with $ [MQTT-4.7.2-1]
  if ((plus === 0 || hash === 0) && topic.charAt(0) === "$") return false;
  // "a/#" is "a" and all below it: the topic with a "/" behind starts with "a/" [MQTT-4.7.1-2]
  if (plus < 0) return hash === 0 || (topic + "/").indexOf(filter.substr(0, hash)) === 0;
  if (/[^A-Za-z0-9_\-\/+#]/.test(filter)) return filterMatchesBytes(filter, buf, off, len);
  // "+" is one level, empty too [MQTT-4.7.1-3]
  const levels = (hash < 0 ? filter : filter.substr(0, hash)).split("/").join("\\/").split("+").join("[^\\/]*");
  return new RegExp("^" + levels + (hash < 0 ? "$" : "")).test(hash < 0 ? topic : topic + "/");
}
