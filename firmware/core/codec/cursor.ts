import { Bytes } from "../platform";

/**
 * Reading a packet's fields, bounds-checked against the end of the packet:
 * mosquitto's packet__read_uint16 and packet__read_string. Every handler
 * (handle_*.ts), the bridge and the tests' decoder (decode.ts) read their
 * two-byte integers and strings through these, so a field that runs past its
 * packet is found in one place, the same way for all of them. Each answers
 * -1 for such a field; the caller closes the connection as malformed.
 *
 * Each is one expression marked `@inline`: the Espruino build writes it out
 * at each call (firmware/espruino/tools/inline-calls.ts), where a resident
 * function would cost JsVars and every call its scope. On Node and Lua they
 * are plain calls.
 */

/**
 * The two-byte integer at `at` [MQTT-1.5.2], or -1 when it runs past `end`.
 * @inline
 */
export function readU16(buf: Bytes, at: number, end: number): number {
  return at + 2 > end ? -1 : buf[at] * 256 + buf[at + 1];
}

/**
 * The length of the string at `at`, whose bytes start at at + 2 [MQTT-1.5.3],
 * or -1 when its length or its bytes run past `end`.
 * @inline
 */
export function readStringLength(buf: Bytes, at: number, end: number): number {
  return at + 2 > end || at + 2 + buf[at] * 256 + buf[at + 1] > end ? -1 : buf[at] * 256 + buf[at + 1];
}
