import { ERR_MALFORMED, ERR_NONE } from "../codec/constants";
import { encodePingresp } from "../codec/encode";
import type { Broker } from "./broker";
import type { Connection } from "./connection";

/** PINGREQ: answer PINGRESP [MQTT-3.12.4-1]; it has no body. */
export function handlePingreq(b: Broker, conn: Connection, len: number): number {
  if (len !== 0) return ERR_MALFORMED;
  b.send(conn.id, encodePingresp(b.tx, 0));
  return ERR_NONE;
}
