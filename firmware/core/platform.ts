/**
 * The few things the core needs from a runtime, and nothing else. Adapters
 * (host-sim on Node, firmware/espruino, firmware/nodemcu) implement these;
 * the core never imports a runtime.
 *
 * Portability rules for everything under firmware/ (JS on Espruino and Node,
 * Lua 5.1/5.3 through TypeScriptToLua):
 * - no bitwise operators: integer arithmetic (Math.floor, %) instead;
 * - no Map/Set/Symbol/typed-array methods in the core: bytes go through
 *   `Bytes` (a Uint8Array on JS, a preallocated table on Lua);
 * - arrays only as dense lists; maps as string-keyed objects with a prefix
 *   on every key (so "__proto__" or "constructor" is just another name);
 * - explicit comparisons, never truthiness of numbers or strings
 *   (0 and "" are true in Lua);
 * - integers below 2^24 (NodeMCU on ESP32 has single floats);
 * - `undefined`, never `null`.
 */

/** A fixed byte buffer. Indexing is 0-based on every runtime. */
export interface Bytes {
  [index: number]: number;
  readonly length: number;
}

/** What the core calls to move bytes. Every call copies what it needs before returning. */
export interface Transport {
  /** Queue bytes for a connection. Returns false when the connection's send queue is over its limit. */
  send(connId: number, buf: Bytes, off: number, len: number): boolean;
  /** Close the connection once queued bytes are sent; the adapter then reports `closed`. */
  close(connId: number): void;
  /**
   * Bytes queued and not yet sent on this connection. `waiting` is set for a
   * send that can wait for room as long as it takes (a retained replay): a
   * transport that reports less otherwise (Espruino's counts only under
   * memory pressure) then reports all it has not sent.
   */
  queued(connId: number, waiting?: boolean): number;
  /**
   * Optional: head[headOff, headOff + headLen) then body[bodyOff, bodyOff +
   * bodyLen) as one write (a PUBLISH's fixed header from the send buffer, then the topic and
   * payload where they lie). A transport where each write and each call
   * costs more than a copy (Espruino: tens of microseconds a statement) has
   * it, and the core sends QoS 0 copies through it; without it the core
   * copies or sends twice, as is cheapest on Node.
   */
  sendTwo?(connId: number, head: Bytes, headOff: number, headLen: number, body: Bytes, bodyOff: number, bodyLen: number): boolean;
}

/** Hashes used by authentication. Each returns raw digest bytes as a binary string. */
export interface Hashes {
  sha256(data: string): string;
  /** Optional: mosquitto_passwd's $6$ (SHA-512) entries; absent on small boards. */
  sha512?: (data: string) => string;
  /** Optional: mosquitto_passwd's $7$ (PBKDF2-SHA512) entries. */
  pbkdf2Sha512?: (password: string, salt: string, iterations: number, keyLen: number) => string;
}

/** Key/value storage for persistence (Espruino Storage, NodeMCU file, a folder on the desktop). */
export interface Storage {
  read(name: string): string | undefined;
  /** Write a whole file. Must replace atomically or leave the old file intact. */
  write(name: string, data: string): boolean;
  erase(name: string): void;
  /** Optional: add to the end of a file (created when missing), durable when it returns true. A bridge's journal needs it. */
  append?(name: string, data: string): boolean;
}

/** What an outbound connection reports (a bridge's link to another broker). */
export interface LinkEvents {
  opened(): void;
  data(buf: Bytes, off: number, len: number): void;
  /** Gone: refused, reset, closed by either side. Reported once. */
  closed(): void;
}

/** An outbound connection. Every call copies what it needs before returning. */
export interface Link {
  send(buf: Bytes, off: number, len: number): boolean;
  close(): void;
  /** Bytes queued and not yet sent. */
  queued(): number;
}

/** Allocation is explicit so each runtime can pick its cheapest buffer. */
export interface Allocator {
  bytes(size: number): Bytes;
}

export interface Logger {
  (line: string): void;
}

export interface Platform {
  alloc: Allocator;
  hashes: Hashes;
  storage?: Storage;
  /** Milliseconds, monotonic enough for keepalive. */
  now(): number;
  /** Random 32-bit-free integer in [0, n) for salts and generated ids. */
  random(n: number): number;
  /**
   * Connection / subscription lines (the adapter decides whether they are shown). Absent where
   * they would go nowhere (a board not verbose): the core then does not build them, since a line
   * of several pieces costs a board about a millisecond.
   */
  log?: Logger;
  /** Memory in use, in the runtime's own unit (JsVars on Espruino, bytes on Node, KB on Lua). */
  memoryUsed?: () => number;
  /** True when the runtime is close to running out of memory: refuse new work. */
  lowMemory?: () => boolean;
  /**
   * Optional: open an outbound TCP connection for the bridge named `bridge`
   * (the adapter knows its TLS settings). Undefined when it cannot even start.
   */
  connect?: (host: string, port: number, bridge: string, events: LinkEvents) => Link | undefined;
}
