/**
 * Bytes on NodeMCU (the core's `Bytes`, 0-based through its index signature):
 * - buffers the core writes (send buffer, gathering buffers, stored
 *   messages) are tables that grow as they are written: a metatable makes an
 *   unwritten slot read 0, as in a Uint8Array, so a 1 KB send buffer costs
 *   nothing until a packet that large is built;
 * - received data is not copied at all: one view table holds the chunk's
 *   string and reads byte i as string.byte(s, i + 1).
 */
import { Bytes } from "../core/platform";
import { LuaStringLib, LuaTableLib } from "./nodemcu";

declare const string: LuaStringLib;
declare const table: LuaTableLib;
/** Lua 5.1's global unpack (table.unpack on 5.3). */
declare const unpack: ((this: void, t: object, i: number, j: number) => number) | undefined;
declare function setmetatable<T extends object>(this: void, t: T, mt: object): T;

/** Bytes turned into a string per string.char call (well inside Lua's argument limits). */
const CHAR_RUN = 200;

/** Unwritten slots of a byte table read 0, as in a Uint8Array. */
const ZERO_META = {
  __index: function (this: void, _t: object, _k: unknown): number {
    return 0;
  },
};

/** A received chunk seen as Bytes: byte i is string.byte(s, i + 1). */
export interface View {
  s: string;
  length: number;
  [index: number]: number;
}

export const VIEW_META = {
  __index: function (this: void, t: View, i: number): number | undefined {
    return string.byte(t.s, i + 1);
  },
};

const unpackBytes = table.unpack !== undefined ? table.unpack : (unpack as (this: void, t: object, i: number, j: number) => number);

/** buf[off, off + len) as a Lua string, every byte written by the core. */
export function bytesToLua(buf: Bytes, off: number, len: number): string {
  // a received chunk's view (the core may send a packet's body straight from it): cut the string
  // (a byte table answers 0 for any missing key, so test the type, not presence)
  const view = (buf as unknown as { s: unknown }).s;
  if (typeof view === "string") return view.substring(off, off + len);
  if (len <= CHAR_RUN) return string.char(unpackBytes(buf, off, off + len - 1));
  let out = "";
  for (let i = 0; i < len; i += CHAR_RUN) {
    let n = len - i < CHAR_RUN ? len - i : CHAR_RUN;
    out = out + string.char(unpackBytes(buf, off + i, off + i + n - 1));
  }
  return out;
}

/** Byte tables that grow as they are written. */
export function allocBytes(size: number): Bytes {
  return setmetatable({ length: size }, ZERO_META) as unknown as Bytes;
}
