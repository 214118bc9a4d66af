/**
 * The core's text operations (codec/text.ts) in Espruino's built-ins: each is
 * one or two native calls where the core's loops would run an interpreted
 * statement per byte (PLATFORM.md: ~56 us a loop iteration, a few us a
 * built-in). Typed arrays here are Uint8Arrays; strings are binary strings.
 */
import { text } from "../codec/text";
import { Bytes } from "../platform";

declare const E: any;

/** Set them, once, before the broker starts (resident: build-espruino.ts says why). */
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
}
