/**
 * Every capacity the broker has, in one place. A board profile (boards/*.json)
 * supplies all of them; the mosquitto.conf reader may lower or raise some.
 * Nothing else in the core holds a limit as a literal.
 */
export interface BoardProfile {
  name: string;
  /** Concurrent client connections; beyond it CONNACK 3 (server unavailable). */
  maxClients: number;
  /**
   * A board's network stack has a fixed number of sockets, and a bridge's
   * link to its remote takes one a client would have: with a bridge
   * configured, maxClients is at most this (firmware/espruino/tools/flash.ts). Absent: no
   * such bound (the desktop).
   */
  maxClientsWithBridge?: number;
  /** Largest whole control packet accepted (fixed header included); larger closes the connection. */
  maxPacketSize: number;
  /** Largest PUBLISH payload stored and forwarded; larger is dropped (acked) like mosquitto's message_size_limit. 0 = up to maxPacketSize. */
  maxPayloadSize: number;
  maxTopicLength: number;
  maxTopicLevels: number;
  maxClientIdLength: number;
  maxSubscriptionsPerClient: number;
  maxSubscriptions: number;
  /** Outgoing QoS 1/2 messages awaiting acknowledgement, per client. */
  maxInflight: number;
  /** Messages waiting behind the in-flight window or for an offline persistent session. */
  maxQueued: number;
  /** Persistent sessions kept for clients that are offline. */
  maxSessions: number;
  maxRetained: number;
  maxRetainedBytes: number;
  /** Incoming QoS 2 packet ids awaiting PUBREL, per client. */
  maxIncomingQos2: number;
  /**
   * A connection's parser gathers a packet split across reads in a buffer
   * that grows with it; a grown buffer up to this size is kept for the next
   * one (no allocation per large packet), a larger one is let go. On a board
   * the initial size: RAM per connection counts more than allocations.
   */
  readerKeepBytes: number;
  /**
   * Socket send queue above which QoS 0 to that client is dropped, QoS 1/2
   * waits in its session queue and a retained replay pauses.
   */
  maxSendQueueBytes: number;
  /**
   * Bytes that all connections which have not finished CONNECT may hold
   * together in their readers; past it, the one that would go over is
   * closed. Each alone is also held to a CONNECT's largest size (connectPacketLimit).
   */
  maxConnectingBytes: number;
  /** A connection that has not sent CONNECT within this time is closed. */
  connectTimeoutMs: number;
  /** How often the adapter calls broker.tick(). */
  tickMs: number;
  /** Persistence writes are coalesced to at most one per this interval (spares the flash). */
  persistIntervalMs: number;
  /** How often the $SYS tree is published; 0 = never. */
  sysIntervalMs: number;
  /** Memory budget in the runtime's unit (JsVars on Espruino); 0 = unchecked. */
  memoryBudget: number;
  /** A client whose send queue stays above maxSendQueueBytes this long is disconnected; 0 = never. */
  stallTimeoutMs: number;
  /** Takeovers of one client id allowed per takeoverWindowMs; more get CONNACK 3. 0 = unlimited. */
  maxTakeovers: number;
  takeoverWindowMs: number;
  /** Refused logins as one user name from one address per authFailureWindowMs before that pair is refused unchecked for authBackoffMs. 0 = off. */
  maxAuthFailures: number;
  authFailureWindowMs: number;
  authBackoffMs: number;
  /**
   * A bridge's messages for its remote, queued while it is away or behind
   * the in-flight window: at most this many, and this many bytes of topic
   * and payload together. Past either the oldest QoS 0 goes first, then new
   * messages are dropped (and counted). Optional in the type (profiles
   * written as literals); every boards/*.json has them.
   */
  maxBridgeQueued?: number;
  maxBridgeQueuedBytes?: number;
  /**
   * Topics whose routing is kept (broker/route_cache.ts): the next PUBLISH to
   * one skips its checks and the matching. 0 = none (the desktop, where the
   * checks cost less than the lookup).
   */
  maxRoutes: number;
}

/** Fields a profile JSON must carry, for validating boards/*.json. */
export const PROFILE_FIELDS: string[] = [
  "maxClients", "maxPacketSize", "maxPayloadSize", "maxTopicLength", "maxTopicLevels",
  "maxClientIdLength", "maxSubscriptionsPerClient", "maxSubscriptions", "maxInflight",
  "maxQueued", "maxSessions", "maxRetained", "maxRetainedBytes", "maxIncomingQos2",
  "readerKeepBytes", "maxSendQueueBytes", "maxConnectingBytes", "connectTimeoutMs", "tickMs", "persistIntervalMs", "sysIntervalMs", "memoryBudget",
  "stallTimeoutMs", "maxTakeovers", "takeoverWindowMs", "maxAuthFailures", "authFailureWindowMs", "authBackoffMs",
  "maxBridgeQueued", "maxBridgeQueuedBytes", "maxRoutes",
];

/**
 * The largest CONNECT the profile can make use of: fixed header, MQTT 3.1's
 * longer variable header, then each field at its longest (client id and will
 * topic as the profile allows, the will message as a payload, user name and
 * password as far as their two-byte lengths go). A connection that has not
 * finished CONNECT is held to this, not to the whole packet limit.
 */
export function connectPacketLimit(p: BoardProfile): number {
  const field = 65535;
  const willMessage = p.maxPayloadSize > 0 && p.maxPayloadSize < field ? p.maxPayloadSize : field;
  const size = 5 + 12 + (2 + p.maxClientIdLength) + (2 + p.maxTopicLength) + (2 + willMessage) + 2 * (2 + field);
  return size < p.maxPacketSize ? size : p.maxPacketSize;
}

/**
 * What a transport may hold for one connection before it closes it: the
 * core keeps each connection near maxSendQueueBytes (every message send
 * checks it), so only answers to a client that does not read go past it.
 */
export function sendQueueHardLimit(p: BoardProfile): number {
  return p.maxSendQueueBytes * 2 + p.maxPacketSize + 8;
}
