/**
 * The NodeMCU adapter (ESP8266 on Lua 5.1, ESP32 on Lua 5.3): the core behind
 * NodeMCU's `net`, `tmr`, `file`, `node` and `wifi` modules, compiled to Lua
 * by TypeScriptToLua (`npm run build:lua` -> dist/lua/broker.lua). init.lua
 * loads it and calls `start()`, which reads config.lua (a Lua table: NodeMCU
 * builds need not carry sjson) unless a configuration is passed in.
 *
 * One concern a file: bytes.ts (the core's Bytes as Lua tables and strings),
 * transport.ts (sending, one piece in flight), storage.ts (files),
 * clock.ts, platform.ts (the Platform and the memory budget), wifi.ts; this
 * file starts and stops the broker and hands it the socket events.
 */
import { Broker } from "../core/broker/broker";
import { BoardConfig } from "../core/config";
import { Bytes, Storage } from "../core/platform";
import { sendQueueHardLimit } from "../core/profile";
import { StateFiles } from "../core/persist/state_files";
import { runTick, startRun, stopRun } from "../core/run/loop";
import { View, VIEW_META } from "./bytes";
// for the tests that drive the bundle: byte tables as the broker makes them
export { allocBytes } from "./bytes";
import { Clock } from "./clock";
import { NetModule, NetServer, NetSocket, Timer, TmrModule } from "./nodemcu";
import { platformFor } from "./platform";
import { NodeMcuTransport, SocketQueue } from "./transport";
import { joinWifi } from "./wifi";

declare const net: NetModule;
declare const tmr: TmrModule;
declare function setmetatable<T extends object>(this: void, t: T, mt: object): T;
declare function print(this: void, line: string): void;
declare function dofile(this: void, name: string): any;

const CONFIG_FILE = "config.lua";
/**
 * NodeMCU closes a server's connection after this many seconds without
 * traffic (30 unless told): keepalive is the broker's business
 * [MQTT-3.1.2-24], so the longest NodeMCU takes.
 */
const IDLE_TIMEOUT_S = 28800;

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
  const link: SocketQueue | undefined = r.transport.bySock[sock as unknown as string];
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
  const link: SocketQueue | undefined = r.transport.bySock[sock as unknown as string];
  if (link !== undefined) r.transport.sent(link);
}

function onDisconnection(sock: NetSocket): void {
  const r = running;
  if (r === undefined) return;
  const link: SocketQueue | undefined = r.transport.bySock[sock as unknown as string];
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
  const link = new SocketQueue(id, sock);
  r.transport.links["c" + id] = link;
  r.transport.bySock[sock as unknown as string] = link;
  sock.on("receive", onReceive);
  sock.on("sent", onSent);
  sock.on("disconnection", onDisconnection);
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
