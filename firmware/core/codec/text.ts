import { Bytes } from "../platform";

/**
 * The byte and text work every packet needs (copying, making strings,
 * scanning a topic), done each runtime's fastest way. On Espruino every
 * interpreted statement costs tens of microseconds, so a loop over the
 * bytes of a topic costs milliseconds where one built-in call (E.toString,
 * Uint8Array.set, RegExp.test, String.split) costs microseconds: its adapter
 * installs native versions (firmware/espruino/text.ts). Node and Lua keep the
 * tight loops below, which allocate nothing.
 */
export interface TextOps {
  /** Copy src[srcOff, srcOff + len) to dst at dstOff (the ranges do not overlap). */
  copy(this: void, dst: Bytes, dstOff: number, src: Bytes, srcOff: number, len: number): void;
  /** buf[off, off + len) as a binary string (one char a byte). */
  str(this: void, buf: Bytes, off: number, len: number): string;
  /** Write binary string `s` into `out` at `off`. */
  put(this: void, s: string, out: Bytes, off: number): void;
  /** True when every byte of buf[off, off + len) is printable ASCII (0x20..0x7E). */
  printable(this: void, buf: Bytes, off: number, len: number): boolean;
  /** How many bytes of buf[off, off + len) equal `byte`. */
  count(this: void, buf: Bytes, off: number, len: number, byte: number): number;
}

function loopCopy(dst: Bytes, dstOff: number, src: Bytes, srcOff: number, len: number): void {
  for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
}

function loopStr(buf: Bytes, off: number, len: number): string {
  // short pieces first, then joined: keeps concatenation linear on every runtime
  let s = "";
  let piece = "";
  for (let i = 0; i < len; i++) {
    piece += String.fromCharCode(buf[off + i]);
    if (piece.length === 64) {
      s += piece;
      piece = "";
    }
  }
  return s + piece;
}

function loopPut(s: string, out: Bytes, off: number): void {
  for (let i = 0; i < s.length; i++) out[off + i] = s.charCodeAt(i);
}

function loopPrintable(buf: Bytes, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) {
    let c = buf[i];
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function loopCount(buf: Bytes, off: number, len: number, byte: number): number {
  let n = 0;
  for (let i = off; i < off + len; i++) if (buf[i] === byte) n++;
  return n;
}

/** Defined (true) by the Espruino build only (topics/subscription_index.ts). */
declare const BOARD_BUILD: boolean;

/**
 * The operations the core calls: the loops, but on a board, whose adapter
 * sets its own before the broker starts (firmware/espruino/text.ts), and
 * whose build then leaves the loops out, each a resident function less.
 */
export const text: TextOps = typeof BOARD_BUILD !== "undefined" ? ({} as TextOps) : {
  copy: loopCopy,
  str: loopStr,
  put: loopPut,
  printable: loopPrintable,
  count: loopCount,
};
