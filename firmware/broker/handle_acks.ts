import { ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, PUBCOMP, PUBREL } from "../codec/constants";
import { encodeAck } from "../codec/encode";
import { Bytes } from "../platform";
import { AWAIT_PUBACK, AWAIT_PUBCOMP, AWAIT_PUBREC, Session } from "../session/session";
import type { Broker } from "./broker";
import type { Connection } from "./connection";
import { pump } from "./deliver";

/** The packet id of a PUBACK/PUBREC/PUBREL/PUBCOMP: exactly two bytes, never 0. */
function ackId(buf: Bytes, off: number, len: number): number {
  if (len !== 2) return -1;
  let id = buf[off] * 256 + buf[off + 1];
  return id === 0 ? -1 : id; // [MQTT-2.3.1-1]
}

/** PUBACK: a QoS 1 delivery is done [MQTT-4.3.2]. An unknown id is ignored. */
export function handlePuback(b: Broker, conn: Connection, buf: Bytes, off: number, len: number): number {
  let id = ackId(buf, off, len);
  if (id < 0) return ERR_MALFORMED;
  let s = conn.session as Session;
  let i = s.findInflight(id);
  if (i < 0) return ERR_NONE;
  if (s.inflight[i].state !== AWAIT_PUBACK) return ERR_PROTOCOL; // a PUBACK for a QoS 2 message
  s.inflight.splice(i, 1);
  pump(b, s);
  return ERR_NONE;
}

/** PUBREC: the first half of a QoS 2 delivery; answer PUBREL [MQTT-4.3.3]. */
export function handlePubrec(b: Broker, conn: Connection, buf: Bytes, off: number, len: number): number {
  let id = ackId(buf, off, len);
  if (id < 0) return ERR_MALFORMED;
  let s = conn.session as Session;
  let i = s.findInflight(id);
  if (i >= 0) {
    let f = s.inflight[i];
    if (f.state === AWAIT_PUBACK) return ERR_PROTOCOL; // a PUBREC for a QoS 1 message
    f.state = AWAIT_PUBCOMP;
  }
  // unknown ids and repeated PUBRECs get a PUBREL too, so the client can finish
  b.send(conn.id, encodeAck(b.tx, 0, PUBREL, 2, id));
  return ERR_NONE;
}

/** PUBREL: release an incoming QoS 2 message; always answered [MQTT-4.3.3-2]. */
export function handlePubrel(b: Broker, conn: Connection, buf: Bytes, off: number, len: number): number {
  let id = ackId(buf, off, len);
  if (id < 0) return ERR_MALFORMED;
  (conn.session as Session).releaseIncomingQos2(id);
  b.send(conn.id, encodeAck(b.tx, 0, PUBCOMP, 0, id));
  return ERR_NONE;
}

/** PUBCOMP: a QoS 2 delivery is done. */
export function handlePubcomp(b: Broker, conn: Connection, buf: Bytes, off: number, len: number): number {
  let id = ackId(buf, off, len);
  if (id < 0) return ERR_MALFORMED;
  let s = conn.session as Session;
  let i = s.findInflight(id);
  if (i < 0) return ERR_NONE;
  if (s.inflight[i].state !== AWAIT_PUBCOMP) return ERR_PROTOCOL; // before PUBREC, or for QoS 1
  s.inflight.splice(i, 1);
  pump(b, s);
  return ERR_NONE;
}
