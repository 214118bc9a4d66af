/**
 * A bridge to another broker, as mosquitto.conf(5) configures one after a
 * `connection NAME` line. The desktop's config.ts and the board's mqtt.json
 * fill it in; the core (bridge.ts) runs it.
 */

/** `topic` directions. */
export const BRIDGE_OUT = 1;
export const BRIDGE_IN = 2;
export const BRIDGE_BOTH = 3;

/** One `topic PATTERN [out|in|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]]` line. */
export interface BridgeTopic {
  pattern: string;
  direction: number;
  qos: number;
  /** "" for none (`""` in the file). */
  localPrefix: string;
  remotePrefix: string;
}

export interface BridgeAddress {
  host: string;
  port: number;
}

export interface BridgeConfig {
  /** `connection NAME`. */
  name: string;
  /** `address`/`addresses`: the first is the primary. */
  addresses: BridgeAddress[];
  /** `remote_clientid`, else the connection name. */
  clientId: string;
  /** `cleansession` (mosquitto's default false). */
  cleanSession: boolean;
  /** `keepalive_interval` in seconds (60). */
  keepalive: number;
  /** `restart_timeout BASE [CAP]` in ms: with a cap, decorrelated jitter from BASE up to CAP; capMs 0: BASE constant. */
  restartBaseMs: number;
  restartCapMs: number;
  username: string | undefined;
  password: string | undefined;
  /** `notifications` (true): retained 1/0 on the notification topic, locally and on the remote (the 0 as the will). */
  notifications: boolean;
  /** `notification_topic`, else $SYS/broker/connection/CLIENTID/state. */
  notificationTopic: string;
  /** `try_private` (true): CONNECT with protocol level 0x84 so the remote knows a bridge and does not echo. */
  tryPrivate: boolean;
  topics: BridgeTopic[];
}

/** Counters, printed by the tests and published nowhere else (mosquitto has none either). */
export interface BridgeStats {
  /** Messages handed to the bridge for the remote. */
  queued: number;
  /** PUBLISH packets written to the remote (resends included). */
  sent: number;
  /** Acknowledged by the remote (QoS 0: written). */
  delivered: number;
  /** Not kept: QoS 0 while the remote is away, or the queue full. */
  dropped: number;
  /** Messages received from the remote and published here. */
  received: number;
  /** Restored from the journal at start. */
  restored: number;
  connects: number;
}

/** What the broker reads of a bridge for its $SYS tree; bridge.ts's Bridge holds the rest. */
export interface BridgeView {
  cfg: BridgeConfig;
  /** Not yet acknowledged by the remote, in order: in flight first (state > WAITING), then waiting. */
  recs: string[];
  stats: BridgeStats;
}
