import { BridgeView } from "../bridge/types";
import { AclRule } from "../auth/types";
import { BrokerConfig } from "../config";
import { Bytes, Platform, Transport } from "../platform";
import { BoardProfile } from "../profile";
import { RetainStore } from "../retain/store";
import { Session } from "../session/session";
import { SessionRegistry } from "../session/registry";
import { SubscriptionIndex } from "../topics/table";
import { Connection } from "./connection";

/**
 * What the broker holds, as every handler and helper sees it (mosquitto's
 * struct mosquitto_db): broker.ts's Broker is the one implementation, and
 * the files it dispatches to import this, not it, so no arrow runs back.
 * A type only: nothing of it reaches the board.
 */
export interface BrokerState {
  config: BrokerConfig;
  profile: BoardProfile;
  platform: Platform;
  transport: Transport;
  topics: SubscriptionIndex<Session>;
  retained: RetainStore;
  sessions: SessionRegistry;
  stats: BrokerStats;
  startedAt: number;
  /** Live connections by id ("c" + id) and as a dense list for ticks. */
  connsById: { [key: string]: Connection };
  conns: Connection[];
  /** Connections past CONNECT. */
  clientCount: number;
  /** The shared send buffer: every outgoing packet is built here, then copied out by the transport. */
  tx: Bytes;
  /** When the $SYS tree was last published (-1: never). */
  sysPublishedAt: number;
  /** Scratch list for matched subscribers: reused for every publish. */
  targets: Session[];
  /** Flood and slow-consumer counters (guard.ts). */
  guard: Guard;
  /** Kept routes by routeKey(topic) (route_cache.ts), and how many. */
  routes: { [key: string]: Route };
  routeCount: number;
  /** What the readers of connections that have not finished CONNECT hold, together (maxConnectingBytes). */
  connectingBytes: number;
  /*
   * Set only when a bridge is configured (firmware/core/bridge/bridge.ts): routePublish hands it every
   * message, with bridgeRetain the publish's retain flag and bridgeFrom the bridge it came in over.
   * Without a bridge a board holds no such properties at all.
   */
  bridgeOut: ((b: BrokerState, src: Bytes, topicOff: number, topicLen: number, payloadOff: number, payloadLen: number, qos: number) => void) | undefined;
  bridgeRetain: boolean;
  bridgeFrom: unknown;
  bridges: BridgeView[] | undefined;
  /** A bridging client's own session while its PUBLISH is routed: not sent back to it (mosquitto's is_bridge). */
  noLocal: Session | undefined;

  /** The send buffer, grown when a packet needs more (never past the packet limit). */
  txFor(size: number): Bytes;
  /** Send tx[0, len) to a connection. */
  send(connId: number, len: number): boolean;
  /** End a connection (broker.ts says how). */
  disconnect(conn: Connection, reason: number): void;
  /** The transport has sent what it held for a connection. */
  drained(id: number): void;
  log(line: string): void;
}

/** Counters, as mosquitto's $SYS tree names them. */
export interface BrokerStats {
  messagesReceived: number;
  messagesSent: number;
  publishReceived: number;
  publishSent: number;
  publishDropped: number;
  bytesReceived: number;
  bytesSent: number;
  connectionsRefused: number;
}

// records and the guard are plain objects: on Espruino a class's constructor stays resident
export interface GuardRecord {
  key: string;
  count: number;
  since: number;
  /** Refused until this time (auth backoff); -1: not blocked. */
  until: number;
}

export interface Guard {
  records: GuardRecord[];
  /** Connections over the send-queue limit, "c" + id -> since when. */
  stalled: { [key: string]: number };
  /** CONNECTs refused because their id took over too often. */
  takeoversRefused: number;
  /** CONNECTs refused during an address's backoff, password unchecked. */
  loginsBlocked: number;
  /** Connections closed because their send queue stayed full. */
  slowClosed: number;
}

/** What routing a PUBLISH to one topic decided (route_cache.ts says why it is exact). */
export interface Route {
  /** Receivers after their read ACL, each once. */
  to: Session[];
  /** The QoS each was granted (its highest matching subscription). */
  qos: number[];
  /** Subscriptions that matched, before read ACLs: for the counters. */
  matched: number;
  /** ACLs of publishers seen allowed to write here (undefined until one with an ACL publishes). */
  writers: AclRule[][] | undefined;
  /** The adapter's own handles for `to` (its sockets), made at its first use. */
  out: unknown;
}
