import { ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, UNSUBACK } from "../codec/constants";
import { readStringLength, readU16 } from "../codec/cursor";
import { encodeAck } from "../codec/encode";
import { validUtf8 } from "../codec/utf8";
import { Bytes } from "../platform";
import { Session } from "../session/session";

import type { BrokerState } from "./state";
import type { Connection } from "./connection";
import { stopReplay } from "./retained_replay";
import { text } from "../codec/text";

/**
 * UNSUBSCRIBE [MQTT-3.10]: checked whole first, then each filter removed; always UNSUBACK [MQTT-3.10.4-5].
 * @cold 90
 */
export function handleUnsubscribe(b: BrokerState, conn: Connection, buf: Bytes, off: number, len: number): number {
  let end = off + len;
  let packetId = readU16(buf, off, end);
  if (packetId <= 0) return ERR_MALFORMED; // [MQTT-2.3.1-1]
  let p = off + 2;
  if (p === end) return ERR_PROTOCOL; // at least one filter [MQTT-3.10.3-2]
  while (p < end) {
    let flen = readStringLength(buf, p, end);
    if (flen <= 0) return ERR_MALFORMED; // and not empty [MQTT-4.7.3-1]
    if (!text.printable(buf, p + 2, flen) && !validUtf8(buf, p + 2, flen)) return ERR_MALFORMED; // [MQTT-3.10.3-1]
    p += 2 + flen;
  }
  let session = conn.session as Session;
  p = off + 2;
  while (p < end) {
    let n = readU16(buf, p, end);
    let filter = text.str(buf, p + 2, n);
    p += 2 + n;
    let i = session.filters.indexOf(filter);
    if (i < 0) continue;
    b.topics.remove(filter, session);
    session.filters.splice(i, 1);
    session.filterQos.splice(i, 1);
    stopReplay(session, filter);
    if (b.platform.log !== undefined) b.log("unsubscribe " + conn.clientId + " " + filter);
  }
  b.send(conn.id, encodeAck(b.tx, 0, UNSUBACK, 0, packetId));
  return ERR_NONE;
}
