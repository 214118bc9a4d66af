/**
 * Every capacity the broker has, in one place. A board profile (boards/*.json)
 * supplies all of them; the mosquitto.conf reader may lower or raise some.
 * Nothing else in the core holds a limit as a literal.
 */
export interface BoardProfile {
  name: string;
  /** Concurrent client connections; beyond it CONNACK 3 (server unavailable). */
  maxClients: number;
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
  /** Socket send queue above which QoS 0 to that client is dropped. */
  maxSendQueueBytes: number;
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
  /** Refused logins from one address per authFailureWindowMs before it is refused unchecked for authBackoffMs. 0 = off. */
  maxAuthFailures: number;
  authFailureWindowMs: number;
  authBackoffMs: number;
}

/** Fields a profile JSON must carry, for validating boards/*.json. */
export const PROFILE_FIELDS: string[] = [
  "maxClients", "maxPacketSize", "maxPayloadSize", "maxTopicLength", "maxTopicLevels",
  "maxClientIdLength", "maxSubscriptionsPerClient", "maxSubscriptions", "maxInflight",
  "maxQueued", "maxSessions", "maxRetained", "maxRetainedBytes", "maxIncomingQos2",
  "readerKeepBytes", "maxSendQueueBytes", "connectTimeoutMs", "tickMs", "persistIntervalMs", "sysIntervalMs", "memoryBudget",
  "stallTimeoutMs", "maxTakeovers", "takeoverWindowMs", "maxAuthFailures", "authFailureWindowMs", "authBackoffMs",
];
