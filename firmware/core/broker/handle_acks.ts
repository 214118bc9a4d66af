import { ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, PUBACK, PUBCOMP, PUBREC, PUBREL } from "../codec/constants";
import { readU16 } from "../codec/cursor";
import { encodeAck } from "../codec/encode";
import { Bytes } from "../platform";
import { AWAIT_PUBACK, AWAIT_PUBCOMP, Session } from "../session/session";
import type { BrokerState } from "./state";
import type { Connection } from "./connection";

/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP: the QoS 1 and 2 handshakes [MQTT-4.3].
 * One handler for the four: each is a packet id and a step in the same state
 * machine (and on Espruino every function costs memory).
 * - PUBACK ends a QoS 1 delivery; PUBCOMP ends a QoS 2 one. An unknown id is
 *   ignored; an ack for a message in the wrong state is a protocol error.
 * - PUBREC: the first half of a QoS 2 delivery; always answered with PUBREL,
 *   for unknown ids and repeats too, so the client can finish.
 * - PUBREL releases an incoming QoS 2 message; always answered [MQTT-4.3.3-2].
 */
export function handleAck(b: BrokerState, conn: Connection, type: number, buf: Bytes, off: number, len: number): number {
  // exactly two bytes, never 0 [MQTT-2.3.1-1]
  if (len !== 2) return ERR_MALFORMED;
  const id = readU16(buf, off, off + len);
  if (id <= 0) return ERR_MALFORMED;
  const s = conn.session as Session;
  if (type === PUBREL) {
    const at = s.incomingQos2.indexOf(id);
    if (at >= 0) s.incomingQos2.splice(at, 1);
    b.send(conn.id, encodeAck(b.tx, 0, PUBCOMP, 0, id));
    return ERR_NONE;
  }
  const i = s.findInflight(id);
  if (type === PUBREC) {
    if (i >= 0) {
      const f = s.inflight[i];
      if (f.state === AWAIT_PUBACK) return ERR_PROTOCOL; // a PUBREC for a QoS 1 message
      f.state = AWAIT_PUBCOMP;
    }
    b.send(conn.id, encodeAck(b.tx, 0, PUBREL, 2, id));
    return ERR_NONE;
  }
  if (i < 0) return ERR_NONE;
  // PUBACK answers QoS 1 only; PUBCOMP only after PUBREC
  if (s.inflight[i].state !== (type === PUBACK ? AWAIT_PUBACK : AWAIT_PUBCOMP)) return ERR_PROTOCOL;
  s.inflight.splice(i, 1);
  // a freed slot in the window: queued messages, then a paused retained replay
  b.drained(conn.id);
  return ERR_NONE;
}
