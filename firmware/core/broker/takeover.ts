import { ERR_TAKEN_OVER } from "../codec/constants";
import { Session } from "../session/session";
import type { BrokerState } from "./state";

/**
 * A client connects with the client id of a connection still open: the older
 * connection goes [MQTT-3.1.4-2] and the session is free for the new one
 * (mosquitto's connect__on_authorised). Its will goes out only when a clean
 * session ends with it, as mosquitto does: a persistent session resumed by
 * its own client is not a client lost. Rare, so cold code on a board.
 * @cold 175
 */
export function takeOver(b: BrokerState, session: Session, clean: boolean): void {
  const old = b.connsById["c" + session.connId];
  session.connId = -1;
  if (old === undefined) return;
  old.session = undefined;
  if (!clean && !session.clean) old.will = undefined;
  b.disconnect(old, ERR_TAKEN_OVER);
}
