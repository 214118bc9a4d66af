import { ERR_MALFORMED, ERR_NONE, PINGRESP } from "../codec/constants";
import { encodeEmpty } from "../codec/encode";
import type { BrokerState } from "./state";
import type { Connection } from "./connection";

/**
 * PINGREQ: answer PINGRESP [MQTT-3.12.4-1]; it has no body.
 * @cold 50
 */
export function handlePingreq(b: BrokerState, conn: Connection, len: number): number {
  if (len !== 0) return ERR_MALFORMED;
  b.send(conn.id, encodeEmpty(b.tx, 0, PINGRESP));
  return ERR_NONE;
}
