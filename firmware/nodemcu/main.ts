/**
 * The NodeMCU adapter (ESP8266 on Lua 5.1, ESP32 on Lua 5.3): the core behind
 * NodeMCU's `net`, `tmr`, `file`, `node` and `wifi` modules, compiled to Lua
 * by TypeScriptToLua (`npm run build:lua` -> dist/lua/broker.lua). init.lua
 * loads it and calls `start()`, which reads config.lua (a Lua table: NodeMCU
 * builds need not carry sjson) unless a configuration is passed in.
 *
 * Bytes on Lua (the core's `Bytes`, 0-based through its index signature):
 * - buffers the core writes (send buffer, gathering buffers, stored
 *   messages) are tables that grow as they are written: a metatable makes an
 *   unwritten slot read 0, as in a Uint8Array, so a 1 KB send buffer costs
 *   nothing until a packet that large is built;
 * - received data is not copied at all: one view table holds the chunk's
 *   string and reads byte i as string.byte(s, i + 1).
 *
 * Sending follows NodeMCU's rule of one `conn:send` in flight: each
 * connection has a queue of packets (a bounded number of bytes), sent in
 * pieces of at most one TCP segment, the next one from the "sent" callback.
 */
import { Broker } from "../core/broker/broker";
import { BoardConfig } from "../core/config";
import { Bytes, Platform, Storage, Transport } from "../core/platform";
import { sendQueueHardLimit } from "../core/profile";
import { StateFiles } from "../core/persist/state_files";
import { runTick, startRun, stopRun } from "../core/run/loop";
import {
  FileModule, LuaStringLib, LuaTableLib, NetModule, NetServer, NetSocket, NodeModule, Timer, TmrModule,
} from "./nodemcu";

declare const net: NetModule;
declare const tmr: TmrModule;
declare const file: FileModule;
declare const node: NodeModule;
/** Station/AP calls differ between the ESP8266 and ESP32 firmwares: checked at run time. */
declare const wifi: any;
/** NodeMCU's crypto module (optional in a firmware build): crypto.hash("sha256", s). */
declare const crypto: any;
declare const string: LuaStringLib;
declare const table: LuaTableLib;
/** Lua 5.1's global unpack (table.unpack on 5.3). */
declare const unpack: ((this: void, t: object, i: number, j: number) => number) | undefined;
declare function setmetatable<T extends object>(this: void, t: T, mt: object): T;
declare function collectgarbage(this: void, opt: string): number;
declare function print(this: void, line: string): void;
declare function dofile(this: void, name: string): any;

const CONFIG_FILE = "config.lua";
/** One TCP segment: NodeMCU's receive chunks are at most this, and sends are kept within it. */
const SEGMENT = 1460;
/** Bytes turned into a string per string.char call (well inside Lua's argument limits). */
const CHAR_RUN = 200;
/** File reads and writes in pieces of this size (NodeMCU's read chunk). */
const FILE_CHUNK = 1024;
/** tmr.now() on the ESP8266 counts microseconds modulo 2^31. */
const WRAP_US = 2147483648;
/** Refuse new clients and subscriptions when the free heap (node.heap(), bytes) falls under this. */
const HEAP_RESERVE = 4096;
/**
 * NodeMCU closes a server's connection after this many seconds without
 * traffic (30 unless told): keepalive is the broker's business
 * [MQTT-3.1.2-24], so the longest NodeMCU takes.
 */
const IDLE_TIMEOUT_S = 28800;

/** Unwritten slots of a byte table read 0, as in a Uint8Array. */
const ZERO_META = {
  __index: function (this: void, _t: object, _k: unknown): number {
    return 0;
  },
};

/** A received chunk seen as Bytes: byte i is string.byte(s, i + 1). */
interface View {
  s: string;
  length: number;
  [index: number]: number;
}

const VIEW_META = {
  __index: function (this: void, t: View, i: number): number | undefined {
    return string.byte(t.s, i + 1);
  },
};

const unpackBytes = table.unpack !== undefined ? table.unpack : (unpack as (this: void, t: object, i: number, j: number) => number);

/** buf[off, off + len) as a Lua string, every byte written by the core. */
function bytesToLua(buf: Bytes, off: number, len: number): string {
  // a received chunk's view (the core may send a packet's body straight from it): cut the string
  // (a byte table answers 0 for any missing key, so test the type, not presence)
  const view = (buf as unknown as { s: unknown }).s;
  if (typeof view === "string") return view.substring(off, off + len);
  if (len <= CHAR_RUN) return string.char(unpackBytes(buf, off, off + len - 1));
  let out = "";
  for (let i = 0; i < len; i += CHAR_RUN) {
    let n = len - i < CHAR_RUN ? len - i : CHAR_RUN;
    out = out + string.char(unpackBytes(buf, off + i, off + i + n - 1));
  }
  return out;
}

/** Byte tables that grow as they are written. */
export function allocBytes(size: number): Bytes {
  return setmetatable({ length: size }, ZERO_META) as unknown as Bytes;
}

/** Post `fn` to run after the current callback (NodeMCU's task queue; the tick timer where there is none). */
function later(fn: (this: void) => void, pending: ((this: void) => void)[]): void {
  if (node.task !== undefined) node.task.post(fn);
  else pending.push(fn);
}

/** One client connection: its socket and its send queue. */
class Link {
  id: number;
  sock: NetSocket;
  /** Packets waiting, oldest first (strings: NodeMCU sends strings). */
  queue: string[] = [];
  /** Bytes queued plus the bytes of the send in flight. */
  bytes = 0;
  /** Length of the send in flight; 0 when none. */
  inFlight = 0;
  /** Close once everything queued is sent. */
  closing = false;
  /** Gone: the socket is closed or being closed, nothing more is sent. */
  dead = false;
  constructor(id: number, sock: NetSocket) {
    this.id = id;
    this.sock = sock;
  }
}

class NodeMcuTransport implements Transport {
  links: { [key: string]: Link } = {};
  /** The same links keyed by their socket object (a Lua table key; typed as a string key for TypeScript). */
  bySock: { [sock: string]: Link } = {};
  broker: Broker | undefined = undefined;
  /** Per-connection bound on queued bytes: past it the client is too slow and is disconnected. */
  limit: number;
  pending: ((this: void) => void)[] = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    let link = this.links["c" + id];
    if (link === undefined || link.dead || link.closing || len <= 0) return false;
    if (link.bytes + len > this.limit) {
      this.drop(link);
      return false;
    }
    link.queue.push(bytesToLua(buf, off, len));
    link.bytes += len;
    if (link.inFlight === 0) this.pump(link);
    return true;
  }

  close(id: number): void {
    let link = this.links["c" + id];
    if (link === undefined) return;
    link.closing = true;
    if (link.inFlight === 0 && link.queue.length === 0) this.finish(link);
  }

  queued(id: number): number {
    let link = this.links["c" + id];
    return link === undefined ? 0 : link.bytes;
  }

  /** Start the next send: queued packets joined up to one segment, a larger one in segments. */
  pump(link: Link): void {
    if (link.inFlight > 0 || link.dead) return;
    let q = link.queue;
    if (q.length === 0) {
      if (link.closing) this.finish(link);
      return;
    }
    let first = q[0];
    let out: string;
    if (first.length >= SEGMENT) {
      out = first.substring(0, SEGMENT);
      if (first.length === SEGMENT) q.splice(0, 1);
      else q[0] = first.substring(SEGMENT);
    } else {
      let n = first.length;
      let j = 1;
      while (j < q.length && n + q[j].length <= SEGMENT) {
        n += q[j].length;
        j++;
      }
      // q is a Lua list: entries 1..j are the first j packets
      out = j === 1 ? first : table.concat(q, "", 1, j);
      q.splice(0, j);
    }
    link.inFlight = out.length;
    try {
      link.sock.send(out);
    } catch (e) {
      this.drop(link);
    }
  }

  /** The send in flight is done. */
  sent(link: Link): void {
    link.bytes -= link.inFlight;
    link.inFlight = 0;
    this.pump(link);
    // all sent: what waited for room in the broker (QoS 1/2, a retained replay) goes on
    if (link.bytes === 0 && !link.dead && !link.closing && this.broker !== undefined) this.broker.drained(link.id);
  }

  /** Queue drained after the broker asked to close: close the socket. */
  finish(link: Link): void {
    this.forget(link);
    try {
      link.sock.close();
    } catch (e) {
      // already closed
    }
  }

  forget(link: Link): void {
    link.dead = true;
    link.queue = [];
    if (this.links["c" + link.id] === link) delete this.links["c" + link.id];
    if (this.bySock[link.sock as unknown as string] === link) delete this.bySock[link.sock as unknown as string];
  }

  /** Over the queue bound or a failed send: close it after this callback, then tell the broker. */
  drop(link: Link): void {
    if (link.dead) return;
    this.forget(link);
    let b = this.broker;
    later(() => {
      try {
        link.sock.close();
      } catch (e) {
        // already closed
      }
      if (b !== undefined) b.closed(link.id);
    }, this.pending);
  }

  /** The peer went away (or NodeMCU reports our own close). */
  gone(link: Link): void {
    if (this.links["c" + link.id] !== link) return;
    this.forget(link);
    if (this.broker !== undefined) this.broker.closed(link.id);
  }

  runPending(): void {
    while (this.pending.length > 0) {
      let fn = this.pending[0];
      this.pending.splice(0, 1);
      fn();
    }
  }
}

class FileStorage implements Storage {
  read(name: string): string | undefined {
    let f = file.open(name, "r");
    if (f === undefined) return undefined;
    let parts: string[] = [];
    while (true) {
      let s = f.read(FILE_CHUNK);
      if (s === undefined || s.length === 0) break;
      parts.push(s);
    }
    f.close();
    return table.concat(parts, "", 1, parts.length);
  }
  write(name: string, data: string): boolean {
    let f = file.open(name, "w+");
    if (f === undefined) return false;
    let ok = true;
    for (let i = 0; i < data.length && ok; i += FILE_CHUNK) {
      let r = f.write(data.substring(i, i + FILE_CHUNK));
      if (r === undefined || r === false) ok = false;
    }
    f.close();
    return ok;
  }
  erase(name: string): void {
    file.remove(name);
  }
}

/** Milliseconds since start, from the microsecond counter (wraps handled; integers throughout). */
class Clock {
  ms = 0;
  carryUs = 0;
  lastUs: number;
  constructor() {
    this.lastUs = Clock.micros();
  }
  static micros(): number {
    if (tmr.now !== undefined) return tmr.now();
    if (node.uptime !== undefined) return node.uptime();
    return 0;
  }
  now(): number {
    let us = Clock.micros();
    let d = us - this.lastUs;
    if (d < 0) d += WRAP_US;
    this.lastUs = us;
    this.carryUs += d;
    let whole = Math.floor(this.carryUs / 1000);
    this.ms += whole;
    this.carryUs -= whole * 1000;
    return this.ms;
  }
}

/**
 * Over the memory budget: profile.memoryBudget is KB of Lua heap the broker
 * may add to what the heap held when it started (its code is not counted,
 * whether it sits in the Lua Flash Store or in RAM), and node.heap() must
 * keep HEAP_RESERVE bytes for lwIP. Garbage counts until collected, so a
 * full collection comes before a refusal.
 */
function overBudget(budget: number, startKb: number): boolean {
  let over = (budget > 0 && collectgarbage("count") - startKb > budget) || node.heap() < HEAP_RESERVE;
  if (!over) return false;
  collectgarbage("collect");
  return (budget > 0 && collectgarbage("count") - startKb > budget) || node.heap() < HEAP_RESERVE;
}

function platformFor(cfg: BoardConfig, clock: Clock): Platform {
  const budget = cfg.config.profile.memoryBudget;
  const verbose = cfg.verbose;
  const startKb = collectgarbage("count");
  return {
    alloc: { bytes: (n: number) => allocBytes(n) },
    hashes: {
      sha256: (s: string): string => (crypto !== undefined ? crypto.hash("sha256", s) : ""),
    },
    storage: new FileStorage(),
    now: () => clock.now(),
    random: (n: number) => Math.floor(Math.random() * n),
    log: (line: string) => {
      if (verbose) print("mqtt: " + line);
    },
    memoryUsed: () => collectgarbage("count"),
    // refuse new clients and subscriptions before the heap runs out
    lowMemory: () => overBudget(budget, startKb),
  };
}

interface Running {
  broker: Broker;
  transport: NodeMcuTransport;
  /** Received chunks are handed to the broker through this one view. */
  view: View;
  servers: NetServer[];
  timer: Timer;
  /** The persisted state (core/persist/state_files.ts); undefined without persistence. */
  files: StateFiles | undefined;
}

let running: Running | undefined = undefined;

/*
 * One set of socket callbacks for every connection: each finds its
 * connection by socket (a Lua table keyed by the socket object), so a
 * connection costs no closures of its own.
 */
function onReceive(sock: NetSocket, data: string): void {
  const r = running;
  if (r === undefined) return;
  const link: Link | undefined = r.transport.bySock[sock as unknown as string];
  if (link === undefined || link.dead) return;
  const view = r.view;
  view.s = data;
  view.length = data.length;
  r.broker.data(link.id, view as unknown as Bytes, 0, data.length);
  view.s = "";
}

function onSent(sock: NetSocket): void {
  const r = running;
  if (r === undefined) return;
  const link: Link | undefined = r.transport.bySock[sock as unknown as string];
  if (link !== undefined) r.transport.sent(link);
}

function onDisconnection(sock: NetSocket): void {
  const r = running;
  if (r === undefined) return;
  const link: Link | undefined = r.transport.bySock[sock as unknown as string];
  if (link !== undefined) r.transport.gone(link);
}

function onConnection(sock: NetSocket): void {
  const r = running;
  if (r === undefined) {
    sock.close();
    return;
  }
  const peer = sock.getpeer();
  const id = r.broker.accept(peer !== undefined ? peer : "0.0.0.0");
  const link = new Link(id, sock);
  r.transport.links["c" + id] = link;
  r.transport.bySock[sock as unknown as string] = link;
  sock.on("receive", onReceive);
  sock.on("sent", onSent);
  sock.on("disconnection", onDisconnection);
}

function joinWifi(cfg: BoardConfig): void {
  const w = cfg.wifi;
  if (w === undefined) return; // the network is already up (or set up by the user's own init.lua)
  const pwd = w.password !== "" ? w.password : undefined;
  if (wifi.setmode !== undefined) {
    // ESP8266 firmware
    if (w.ap) {
      wifi.setmode(wifi.SOFTAP);
      wifi.ap.config({ ssid: w.ssid, pwd: pwd, auth: pwd !== undefined ? wifi.WPA2_PSK : wifi.OPEN, save: false });
      print("mqtt: access point " + w.ssid + " at " + wifi.ap.getip());
      return;
    }
    wifi.setmode(wifi.STATION);
    if (w.hostname !== "") wifi.sta.sethostname(w.hostname);
    wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, (t: any) => print("mqtt: wifi up " + t.IP));
    wifi.sta.config({ ssid: w.ssid, pwd: pwd, auto: true, save: false });
    return;
  }
  // ESP32 firmware
  if (w.ap) {
    wifi.mode(wifi.SOFTAP);
    wifi.ap.config({ ssid: w.ssid, pwd: pwd, auth: pwd !== undefined ? wifi.AUTH_WPA2_PSK : wifi.AUTH_OPEN }, false);
    wifi.start();
    print("mqtt: access point " + w.ssid);
    return;
  }
  wifi.mode(wifi.STATION);
  wifi.start();
  if (w.hostname !== "") wifi.sta.sethostname(w.hostname);
  wifi.sta.on("got_ip", (_ev: any, info: any) => print("mqtt: wifi up " + info.ip));
  wifi.sta.config({ ssid: w.ssid, pwd: pwd, auto: true }, false);
}

/**
 * Start the broker: with `cfg`, or from config.lua. Returns the broker
 * (already running: the same one).
 */
export function start(cfg?: BoardConfig): Broker | undefined {
  if (running !== undefined) return running.broker;
  const c: BoardConfig | undefined = cfg !== undefined ? cfg : dofile(CONFIG_FILE);
  if (c === undefined) {
    print("mqtt: no " + CONFIG_FILE + "; upload one with npm run flash:nodemcu");
    return undefined;
  }
  const profile = c.config.profile;
  const clock = new Clock();
  // the QoS 0 drop threshold, plus room for the acknowledgements and one largest packet
  const transport = new NodeMcuTransport(sendQueueHardLimit(profile));
  const platform = platformFor(c, clock);
  const storage = platform.storage as Storage;
  const b = new Broker(c.config, platform, transport);
  transport.broker = b;
  const files = startRun(b, storage);
  joinWifi(c);
  const view = setmetatable({ s: "", length: 0 }, VIEW_META) as View;
  const servers: NetServer[] = [];
  const timer = tmr.create();
  running = { broker: b, transport: transport, view: view, servers: servers, timer: timer, files: files };
  const listeners = c.config.listeners;
  for (let i = 0; i < listeners.length; i++) {
    const srv = net.createServer(net.TCP, IDLE_TIMEOUT_S);
    srv.listen(listeners[i].port, onConnection);
    servers.push(srv);
    print("mqtt: broker listening on port " + listeners[i].port);
  }
  timer.alarm(profile.tickMs, tmr.ALARM_AUTO, () => {
    transport.runPending();
    runTick(b, files);
  });
  return b;
}

/** Stop listening, close every connection, save the state. */
export function stop(): void {
  const r = running;
  if (r === undefined) return;
  running = undefined;
  r.timer.unregister();
  for (let i = 0; i < r.servers.length; i++) r.servers[i].close();
  stopRun(r.broker, r.files);
}

/** The running broker (console and tests). */
export function broker(): Broker | undefined {
  return running !== undefined ? running.broker : undefined;
}
