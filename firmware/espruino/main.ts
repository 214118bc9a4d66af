/**
 * The Espruino adapter (ESP32, and Espruino's Linux build): the core behind
 * Espruino's `net`, `Storage`, `crypto` and `Wifi`. Loaded from flash as
 * .bootcde, so it starts again by itself after power loss.
 *
 * Memory is the constraint (about 4,000 JsVars for everything): one shared
 * receive buffer for all sockets, one closure set per connection, nothing
 * created per message but the string handed to socket.write (Espruino sockets
 * take strings only).
 */
import { Broker } from "../broker/broker";
import { BrokerConfig } from "../config";
import { Bytes, Platform, Storage, Transport } from "../platform";
import { restoreState, serializeState, validState } from "../session/persist";
import { publishSys } from "../broker/sys_tree";

declare const global: any;
declare function print(...args: any[]): void;
declare function setInterval(fn: () => void, ms: number): any;
declare function setTimeout(fn: () => void, ms: number): any;
declare const E: any;
declare const process: any;

/** What `npm run flash` writes to Storage as mqtt.json. */
interface BoardConfig {
  config: BrokerConfig;
  wifi: { ssid: string; password: string; ap: boolean; hostname: string } | undefined;
  verbose: boolean;
}

/** Espruino's built-in modules. Through `global` so the bundler leaves the call alone. */
function espruinoModule(name: string): any {
  return global.require(name);
}

const CONFIG_FILE = "mqtt.json";
/** Socket data arrives at most 536 bytes a call; the shared buffer takes it without allocating. */
const CHUNK = 536;
/** Two state files, written alternately: the new one is complete before the old one is erased. */
const STATE_FILES = ["mqtt.st0", "mqtt.st1"];

class EspruinoStorage implements Storage {
  s: any = espruinoModule("Storage");
  read(name: string): string | undefined {
    const v = this.s.read(name);
    return v === undefined ? undefined : v;
  }
  write(name: string, data: string): boolean {
    try {
      return this.s.write(name, data) === true;
    } catch (e) {
      return false;
    }
  }
  erase(name: string): void {
    this.s.erase(name);
  }
}

/** Sockets by id, each with the bytes it has queued, for backpressure and 'drain'. */
class NetTransport implements Transport {
  socks: { [key: string]: any } = {};
  queue: { [key: string]: number } = {};
  send(id: number, buf: Bytes, off: number, len: number): boolean {
    const sock = this.socks["s" + id];
    if (sock === undefined) return false;
    try {
      sock.write(E.toString((buf as any).subarray(off, off + len)));
    } catch (e) {
      return false; // closed under us: 'close' follows
    }
    this.queue["s" + id] += len;
    return true;
  }
  close(id: number): void {
    const sock = this.socks["s" + id];
    if (sock === undefined) return;
    delete this.socks["s" + id];
    try {
      sock.end();
    } catch (e) {
      // already closed
    }
  }
  queued(id: number): number {
    const q = this.queue["s" + id];
    return q === undefined ? 0 : q;
  }
}

let broker: Broker | undefined = undefined;
let stateIndex = 0;
let generation = 0;
let lastSaved = "";

/**
 * Persisted state: two files, each "generation:state". A save writes the file
 * not holding the newest state, then erases the other; at boot the valid file
 * with the higher generation wins. A write torn by a power cut fails the
 * state's checksum, so the board comes back with the old state or the new one.
 */
function loadState(b: Broker, storage: EspruinoStorage): void {
  let best = -1;
  let bestGen = -1;
  let bestData = "";
  for (let i = 0; i < STATE_FILES.length; i++) {
    const data = storage.read(STATE_FILES[i]);
    if (data === undefined) continue;
    const colon = data.indexOf(":");
    if (colon < 1) continue;
    const gen = parseInt(data.substring(0, colon), 10);
    const body = data.substring(colon + 1);
    if (gen > bestGen && validState(body)) {
      best = i;
      bestGen = gen;
      bestData = body;
    }
  }
  if (best < 0) return;
  if (restoreState(b, bestData)) {
    stateIndex = best;
    generation = bestGen;
    lastSaved = bestData;
  }
}

function saveState(b: Broker, storage: EspruinoStorage): void {
  const data = serializeState(b);
  if (data === lastSaved) return;
  const next = (stateIndex + 1) % STATE_FILES.length;
  storage.erase(STATE_FILES[next]);
  if (!storage.write(STATE_FILES[next], (generation + 1) + ":" + data)) return;
  storage.erase(STATE_FILES[stateIndex]);
  stateIndex = next;
  generation++;
  lastSaved = data;
}

function platformFor(cfg: BoardConfig, storage: EspruinoStorage): Platform {
  const crypto = espruinoModule("crypto");
  const budget = cfg.config.profile.memoryBudget;
  return {
    alloc: { bytes: (n: number) => new Uint8Array(n) },
    hashes: { sha256: (s: string) => E.toString(crypto.SHA256(s)) },
    storage: storage,
    now: () => Date.now(),
    random: (n: number) => Math.floor(Math.random() * n),
    log: cfg.verbose ? (line: string) => print(line) : () => {},
    memoryUsed: () => process.memory(false).usage,
    // refuse new clients and subscriptions before the pool runs dry; over budget, collect the
    // garbage first (cycles are only freed by the mark-sweep, which a busy broker never idles into)
    lowMemory: () => budget > 0 && process.memory(false).usage > budget && process.memory().usage > budget,
  };
}

function listen(b: Broker, transport: NetTransport, port: number): void {
  const chunk = new Uint8Array(CHUNK);
  espruinoModule("net").createServer((sock: any) => {
    const id = b.accept("0.0.0.0");
    const key = "s" + id;
    transport.socks[key] = sock;
    transport.queue[key] = 0;
    sock.on("data", (d: string) => {
      let off = 0;
      while (off < d.length) {
        const n = d.length - off < CHUNK ? d.length - off : CHUNK;
        // Espruino's Uint8Array.set takes a binary string as it is
        (chunk as any).set(off === 0 && n === d.length ? d : d.substr(off, n), 0);
        b.data(id, chunk, 0, n);
        off += n;
      }
    });
    sock.on("drain", () => {
      transport.queue[key] = 0;
    });
    sock.on("close", () => {
      delete transport.socks[key];
      delete transport.queue[key];
      // the socket and these closures hold each other: reference counting alone would never free them
      sock.removeAllListeners();
      b.closed(id);
    });
  }).listen(port);
}

function joinWifi(cfg: BoardConfig, then: () => void): void {
  const w = cfg.wifi;
  if (w === undefined) {
    then(); // no Wi-Fi configured (Espruino's Linux build: the network is already up)
    return;
  }
  // only required when configured: asking for a module a build lacks costs the whole pool
  const wifi = espruinoModule("Wifi");
  if (w.hostname !== "") wifi.setHostname(w.hostname);
  if (w.ap) {
    wifi.startAP(w.ssid, { password: w.password, authMode: "wpa2" }, () => then());
    return;
  }
  const attempt = (delay: number) => {
    wifi.connect(w.ssid, { password: w.password }, (err: any) => {
      if (err) {
        // retry with backoff, at most a minute apart
        setTimeout(() => attempt(delay < 60000 ? delay * 2 : delay), delay);
        return;
      }
      wifi.getIP((e: any, ip: any) => print("mqtt: wifi up " + (ip ? ip.ip : "")));
      then();
    });
  };
  attempt(1000);
}

/** Start the broker from the configuration in Storage. */
export function start(): void {
  if (broker !== undefined) return;
  const storage = new EspruinoStorage();
  const cfg = storage.s.readJSON(CONFIG_FILE, true) as BoardConfig | undefined;
  if (cfg === undefined) {
    print("mqtt: no " + CONFIG_FILE + " in Storage; flash with npm run flash");
    return;
  }
  const transport = new NetTransport();
  const b = new Broker(cfg.config, platformFor(cfg, storage), transport);
  broker = b;
  if (cfg.config.persistence) loadState(b, storage);
  const port = cfg.config.listeners.length > 0 ? cfg.config.listeners[0].port : 1883;
  joinWifi(cfg, () => {
    listen(b, transport, port);
    print("mqtt: broker listening on port " + port);
  });
  let lastSave = Date.now();
  setInterval(() => {
    b.tick();
    publishSys(b);
    if (cfg.config.persistence && Date.now() - lastSave >= cfg.config.profile.persistIntervalMs) {
      lastSave = Date.now();
      saveState(b, storage);
    }
  }, cfg.config.profile.tickMs);
}

/** For the console and device tests: the running broker. */
export function running(): Broker | undefined {
  return broker;
}
