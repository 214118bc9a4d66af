import { AclRule } from "../auth/types";
import { StoredMessage } from "../message";
import { Subscriber } from "../topics/table";

/** Outgoing QoS 1/2 message states [MQTT-4.3]. */
export const AWAIT_PUBACK = 1;
export const AWAIT_PUBREC = 2;
export const AWAIT_PUBCOMP = 3;

/**
 * An outgoing QoS 1/2 message sent and not yet acknowledged. Plain objects,
 * as Queued and StoredMessage: on Espruino a class's constructor stays
 * resident, and a literal costs a quarter of a constructor call there.
 */
export interface InFlight {
  msg: StoredMessage;
  packetId: number;
  qos: number;
  retain: boolean;
  state: number;
}

/** A message waiting behind the in-flight window, or for its client to come back. */
export interface Queued {
  msg: StoredMessage;
  qos: number;
  retain: boolean;
}

/**
 * A retained replay for a new subscription, pending while the connection has
 * no room (broker/retained_replay.ts). A plain object: on Espruino a class's
 * constructor stays resident.
 */
export interface RetainedReplay {
  filter: string;
  qos: number;
  /** Sequence number of the last retained message looked at (-1: none yet). */
  after: number;
  /** The retained store's epoch `after` belongs to. */
  epoch: number;
}

/**
 * The state the broker keeps for a client id [MQTT-3.1.2-4]: subscriptions,
 * QoS 1/2 messages in both directions, and the queue. A clean session lives as
 * long as its connection; a persistent one outlives it.
 */
export class Session implements Subscriber {
  clientId: string;
  /** Id of the connection attached, or -1 while offline. */
  connId = -1;
  clean: boolean;
  /** Filters this session holds, and their granted QoS (parallel lists). */
  filters: string[] = [];
  filterQos: number[] = [];
  inflight: InFlight[] = [];
  queue: Queued[] = [];
  /** Incoming QoS 2 packet ids received and not yet released (PUBREL). */
  incomingQos2: number[] = [];
  nextPacketId = 1;
  /** ACL rules compiled for this client at CONNECT; undefined = no ACL. */
  acl: AclRule[] | undefined = undefined;
  /** When it went offline, for evicting the oldest offline session first. */
  offlineSince = 0;
  /** Messages dropped because its queue was full. */
  dropped = 0;
  matchStamp = 0;
  matchQos = 0;
  /** Retained replays not finished yet; absent when none (no field, no memory, on a board). */
  replays?: RetainedReplay[];

  constructor(clientId: string, clean: boolean) {
    this.clientId = clientId;
    this.clean = clean;
  }

  /** A packet id not in use by an in-flight message [MQTT-2.3.1-2]. */
  allocPacketId(): number {
    for (let tries = 0; tries < 65535; tries++) {
      let id = this.nextPacketId;
      this.nextPacketId = id >= 65535 ? 1 : id + 1;
      if (this.findInflight(id) < 0) return id;
    }
    return 0;
  }

  findInflight(packetId: number): number {
    let list = this.inflight;
    for (let i = 0; i < list.length; i++) if (list[i].packetId === packetId) return i;
    return -1;
  }
}
