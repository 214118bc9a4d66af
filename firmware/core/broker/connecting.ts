import { CONNECT, ERR_NONE, ERR_PROTOCOL, ERR_TOO_LARGE } from "../codec/constants";
import { PacketReader } from "../codec/reader";
import { Bytes } from "../platform";
import type { BrokerState } from "./state";
import { AWAIT_CONNECT, CLOSED, Connection } from "./connection";

/**
 * Bytes a reader holds for a packet split across reads (its gathering buffer).
 * @inline
 */
export function readerHeld(reader: PacketReader): number {
  return reader.buf === undefined ? 0 : reader.buf.length;
}

/**
 * Bytes for a connection that has not finished CONNECT (once per client, so
 * cold code on Espruino). The first byte must start a CONNECT [MQTT-3.1.0-1]:
 * an HTTP request or a TLS hello on this port closes at once, as mosquitto
 * does, not at the CONNECT timeout. What the reader gathers meanwhile is held
 * to a CONNECT's size (the reader's limit until handle_connect.ts lifts it)
 * and counts against what all such connections may hold together
 * (profile.maxConnectingBytes): the one that would go past it is closed.
 */
export function feedConnecting(b: BrokerState, conn: Connection, buf: Bytes, off: number, len: number): void {
  const reader = conn.reader;
  if (len > 0 && reader.awaiting() === 0 && Math.floor(buf[off] / 16) !== CONNECT) {
    b.disconnect(conn, ERR_PROTOCOL);
    return;
  }
  const before = readerHeld(reader);
  let err = reader.feed(buf, off, len, conn);
  const state: number = conn.state;
  if (state === AWAIT_CONNECT) {
    b.connectingBytes += readerHeld(reader) - before;
    if (err === ERR_NONE && b.connectingBytes > b.profile.maxConnectingBytes) err = ERR_TOO_LARGE;
  } else {
    // past CONNECT (or closed by it): what was counted is given back
    b.connectingBytes -= before;
  }
  if (err !== ERR_NONE && state !== CLOSED) b.disconnect(conn, err);
}
