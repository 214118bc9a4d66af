import { ERR_MALFORMED } from "../codec/constants";
import type { BrokerState } from "./state";
import type { Connection } from "./connection";

/**
 * DISCONNECT: the will is discarded [MQTT-3.14.4-3] and the connection closes.
 * @cold 60
 */
export function handleDisconnect(b: BrokerState, conn: Connection, len: number): number {
  if (len !== 0) return ERR_MALFORMED;
  conn.will = undefined;
  b.disconnect(conn, 0);
  return 0;
}
