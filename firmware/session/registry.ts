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
  private byId: { [key: string]: Session } = {};
  count = 0;
  offline: Session[] = [];
  maxOffline: number;
  /** Sessions dropped to make room. */
  evicted = 0;

  constructor(maxOffline: number) {
    this.maxOffline = maxOffline;
  }

  find(clientId: string): Session | undefined {
    return this.byId["c" + clientId];
  }

  create(clientId: string, clean: boolean): Session {
    let s = new Session(clientId, clean);
    this.byId["c" + clientId] = s;
    this.count++;
    return s;
  }

  /** A client (re)attaches: its session is no longer offline. */
  attach(session: Session, connId: number): void {
    session.connId = connId;
    this.removeOffline(session);
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

  /** Every session, for persistence. */
  all(): Session[] {
    let out: Session[] = [];
    for (let key in this.byId) out.push(this.byId[key]);
    return out;
  }

  private removeOffline(session: Session): void {
    let list = this.offline;
    for (let i = 0; i < list.length; i++) {
      if (list[i] === session) {
        list.splice(i, 1);
        return;
      }
    }
  }
}
