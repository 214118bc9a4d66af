import { Session } from "../session/session";
import { attachSession, createSession } from "../session/registry";
import type { BrokerState } from "./state";
import type { Connection } from "./connection";
import { takeOver } from "./takeover";

/**
 * A CONNECT accepted: the session it continues or starts, attached to
 * `conn` (mosquitto's connect__on_authorised). An older connection with the
 * same client id goes first [MQTT-3.1.4-2]; a clean session, or a
 * persistent one taken up by a clean client, starts from nothing
 * [MQTT-3.1.2-6]; otherwise the stored session resumes. `session`: the one
 * the client id has, if any (handle_connect.ts looked it up for its limits).
 * Answers whether a session was present, the CONNACK's flag [MQTT-3.2.2-2].
 */
export function openSession(b: BrokerState, conn: Connection, session: Session | undefined, clientId: string, clean: boolean): boolean {
  if (session !== undefined && session.connId >= 0) takeOver(b, session, clean);
  let present = false;
  if (session !== undefined && (clean || session.clean)) {
    b.sessions.discard(b, session);
    session = undefined;
  }
  if (session === undefined) session = createSession(b.sessions, clientId, clean);
  else present = true;
  attachSession(b.sessions, session, conn.id);
  conn.session = session;
  return present;
}
