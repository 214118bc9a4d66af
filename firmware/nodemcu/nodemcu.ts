/**
 * Ambient types for the NodeMCU modules and the few Lua built-ins the NodeMCU
 * adapter uses. NodeMCU provides the modules as globals (`net`, `tmr`,
 * `file`, `node`, `wifi`, optionally `crypto`); TypeScriptToLua emits these
 * names as they are. Functions called with a dot in Lua take `this: void`;
 * methods of objects (sockets, timers, open files) are called with a colon.
 *
 * Only what the adapter calls is declared, as both firmwares have it
 * (ESP8266 on Lua 5.1 and ESP32 on Lua 5.3); where they differ the adapter
 * checks which one it runs on.
 */

export interface NetSocket {
  on(event: "receive", fn: (this: void, sck: NetSocket, data: string) => void): void;
  on(event: "sent" | "disconnection" | "connection", fn: (this: void, sck: NetSocket) => void): void;
  /** One send at a time: a second before "sent" is an error on NodeMCU, so is an empty string. */
  send(data: string): void;
  close(): void;
  /** The peer's IP address (the port is a second return value, unused). */
  getpeer(): string | undefined;
}

export interface NetServer {
  listen(port: number, fn: (this: void, conn: NetSocket) => void): void;
  close(): void;
}

export interface NetModule {
  TCP: number;
  createServer(this: void, type?: number, timeoutSeconds?: number): NetServer;
}

export interface Timer {
  alarm(ms: number, mode: number, fn: (this: void, t: Timer) => void): boolean;
  stop(): boolean;
  unregister(): void;
}

export interface TmrModule {
  ALARM_SINGLE: number;
  ALARM_AUTO: number;
  create(this: void): Timer;
  /** Microseconds since boot; on the ESP8266 it wraps at 2^31. Absent on the ESP32 (node.uptime there). */
  now?: (this: void) => number;
}

export interface FileObject {
  read(n: number): string | undefined;
  write(data: string): boolean | undefined;
  close(): void;
}

export interface FileModule {
  open(this: void, name: string, mode: string): FileObject | undefined;
  remove(this: void, name: string): void;
  exists(this: void, name: string): boolean;
}

export interface TaskModule {
  post(this: void, fn: (this: void) => void): void;
}

export interface NodeModule {
  /** Free heap in bytes. */
  heap(this: void): number;
  /** ESP32: microseconds since boot. */
  uptime?: (this: void) => number;
  task?: TaskModule;
}

/** Lua's string library, as far as bytes go. */
export interface LuaStringLib {
  byte(this: void, s: string, i: number): number | undefined;
  char(this: void, ...codes: number[]): string;
}

export interface LuaTableLib {
  concat(this: void, list: string[], sep: string, i: number, j: number): string;
  /** Lua 5.2+; 5.1 has the global `unpack`. */
  unpack?: (this: void, t: object, i: number, j: number) => number;
}
