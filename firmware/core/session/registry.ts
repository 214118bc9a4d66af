import { Session } from "./session";
import { SubscriptionIndex } from "../topics/table";

/** What the registry needs of the broker: the table to drop subscriptions from, and a clock. */
export interface SessionOwner {
  topics: SubscriptionIndex<Session>;
  platform: { now(): number };
}

/**
 * Sessions by client id ("c" + id), plus the persistent ones whose client is
 * away, oldest first. At most `maxOffline` offline sessions are kept; past
 * that the one offline longest is dropped (mosquitto's
 * persistent_client_expiration, by count instead of age).
 */
export class SessionRegistry {
  /** By "c" + client id. */
  byId: { [key: string]: Session } = {};
  count = 0;
  offline: Session[] = [];
  maxOffline: number;
  /** Sessions dropped to make room. */
  evicted = 0;

  constructor(maxOffline: number) {
    this.maxOffline = maxOffline;
  }

  /** Its connection ended: a clean session ends too [MQTT-3.1.2-6]; a persistent one waits. */
  detach(owner: SessionOwner, session: Session): void {
    session.connId = -1;
    if (session.clean) {
      this.discard(owner, session);
      return;
    }
    session.offlineSince = owner.platform.now();
    this.offline.push(session);
    while (this.offline.length > this.maxOffline) {
      this.evicted++;
      this.discard(owner, this.offline[0]);
    }
  }

  /** Forget a session and every subscription it held. */
  discard(owner: SessionOwner, session: Session): void {
    let filters = session.filters;
    for (let i = 0; i < filters.length; i++) owner.topics.remove(filters[i], session);
    session.filters = [];
    session.filterQos = [];
    session.inflight = [];
    session.queue = [];
    session.incomingQos2 = [];
    this.removeOffline(session);
    if (this.byId["c" + session.clientId] === session) {
      delete this.byId["c" + session.clientId];
      this.count--;
    }
  }

  removeOffline(session: Session): void {
    let list = this.offline;
    for (let i = 0; i < list.length; i++) {
      if (list[i] === session) {
        list.splice(i, 1);
        return;
      }
    }
  }
}

/*
 * Finding, creating and attaching sessions happen on CONNECT, listing them on
 * a save: functions, not methods, so on Espruino they are not resident.
 */

/**
 * The session of this client id, if any.
 * @inline
 */
export function findSession(reg: SessionRegistry, clientId: string): Session | undefined {
  return reg.byId["c" + clientId];
}

export function createSession(reg: SessionRegistry, clientId: string, clean: boolean): Session {
  let s = new Session(clientId, clean);
  reg.byId["c" + clientId] = s;
  reg.count++;
  return s;
}

/** A client (re)attaches: its session is no longer offline. */
export function attachSession(reg: SessionRegistry, session: Session, connId: number): void {
  session.connId = connId;
  reg.removeOffline(session);
}

/**
 * A client id for a client that sent none [MQTT-3.1.3-6]: "auto-" and 16 hex
 * digits from the platform's random numbers, one no session has.
 * @cold 176
 */
export function freshClientId(reg: SessionRegistry, platform: { random(n: number): number }): string {
  let id = "";
  do {
    id = "auto-";
    for (let h = 0; h < 16; h++) id += "0123456789abcdef".charAt(platform.random(16));
  } while (findSession(reg, id) !== undefined);
  return id;
}

/** Every session, for persistence. */
export function allSessions(reg: SessionRegistry): Session[] {
  let out: Session[] = [];
  for (let key in reg.byId) out.push(reg.byId[key]);
  return out;
}
