/*
 * Primitive constants come first: the Espruino build (esbuild) inlines a
 * module's constants only up to its first non-primitive one, and every
 * constant not inlined costs a JsVar on the board.
 */
/** MQTT 3.1.1 control packet types (the high nibble of the first byte). */
export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const UNSUBSCRIBE = 10;
export const UNSUBACK = 11;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;

/**
 * Required low-nibble flags per packet type [MQTT-2.2.2-1]; -1 = PUBLISH (flags carry
 * DUP/QoS/RETAIN), -2 = reserved type (0 and 15) that is never valid.
 * Any other value is malformed and closes the connection [MQTT-2.2.2-2].
 */
/** True for packets a server may receive; a client sending CONNACK/SUBACK/UNSUBACK/PINGRESP is broken. */
/** CONNACK return codes [MQTT-3.2.2.3]. */
export const CONNACK_ACCEPTED = 0;
export const CONNACK_BAD_PROTOCOL = 1;
export const CONNACK_ID_REJECTED = 2;
export const CONNACK_SERVER_UNAVAILABLE = 3;
export const CONNACK_BAD_CREDENTIALS = 4;
export const CONNACK_NOT_AUTHORIZED = 5;

export const SUBACK_FAILURE = 0x80;

/** Largest value the four-byte remaining length can hold [MQTT-2.2.3]. */
export const MAX_REMAINING_LENGTH = 268435455;

/** Why a connection is being closed, for logs and tests. 0 = no error; 4 is not used (a refused login is a CONNACK, not a reason). */
export const ERR_NONE = 0;
export const ERR_PROTOCOL = 1;
export const ERR_MALFORMED = 2;
export const ERR_TOO_LARGE = 3;
export const ERR_REFUSED = 5;
export const ERR_KEEPALIVE = 6;
export const ERR_TAKEN_OVER = 7;
export const ERR_SOCKET = 8;
export const ERR_CONNECT_TIMEOUT = 9;
export const ERR_SHUTDOWN = 10;
export const ERR_SLOW = 11;

export const REQUIRED_FLAGS: number[] = [-2, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, -2];

/**
 * A closing reason for logs. Built when asked: a table kept in memory would cost JsVars on a board.
 * @cold 200
 */
export function errorName(code: number): string {
  return "none|protocol error|malformed packet|packet too large|not authorized|refused|keepalive expired|session taken over|socket closed|no CONNECT in time|broker shutting down|send queue full".split("|")[code];
}
