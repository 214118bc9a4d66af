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
