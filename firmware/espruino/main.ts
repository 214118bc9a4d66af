/**
 * The Espruino adapter (ESP32, and Espruino's Linux build): the core behind
 * Espruino's `net`, `Storage`, `crypto` and `Wifi`. Loaded from flash as
 * .bootcde, so it starts again by itself after power loss.
 *
 * Memory is the constraint (about 4,000 JsVars for everything): one shared
 * receive buffer for all sockets, one closure set per connection, nothing
 * created per message but the string handed to socket.write (Espruino sockets
 * take strings only). Code that runs once (set-up, Wi-Fi, loading state) is
 * nested inside start(): a function at module level costs JsVars for as long
 * as the broker runs, a nested one only while its parent is alive.
 */
import { Broker } from "../core/broker/broker";
import { Connection } from "../core/broker/connection";
import { BoardConfig } from "../core/config";
import { Bytes, Transport } from "../core/platform";
import { runTick, startRun } from "../core/run/loop";
import { bridgesNetwork, journalCompactAt, startBridges, tickBridges } from "../core/bridge/bridge";
import { flashJournal } from "./journal";
import { netConnect } from "./link";
import { coolDown, receive, Receiver, streamed } from "./receive";
import { installText } from "./text";

declare const global: any;
declare function print(...args: any[]): void;
declare function setInterval(fn: () => void, ms: number): any;
declare function setTimeout(fn: () => void, ms: number): any;
declare const E: any;
declare const process: any;

/**
 * The shared receive buffer: what goes to the parser is copied in here,
 * whole packets up to this size at once (receive.ts). Packets are small on a
 * board; a larger one goes through in pieces.
 */
const CHUNK = 256;

/** Sockets by id, each with the bytes it has queued, for backpressure and 'drain'. */
class NetTransport implements Transport {
  socks: { [key: string]: any } = {};
  queue: { [key: string]: number } = {};
  /**
   * Espruino's socket buffers are unbounded and 'drain' fires only when one
   * is wholly empty, which a busy socket may never be. So what bounds them is
   * memory: while the pool is inside its budget nothing is held back; once it
   * is not, QoS 0 to a socket with bytes still queued is dropped. Looking
   * costs as much as forwarding a few packets, so a chunk looks again only
   * once the profile's maxSendQueueBytes went out since the last look, and on
   * every chunk while congested: between looks the sockets' buffers grow by
   * at most that and one chunk's copies (2 KB + 8 x 536 bytes on an ESP32
   * profile, about 550 JsVars, inside the 800 it leaves above memoryBudget).
   */
  congested = false;
  /** Bytes written since the pool was last looked at (onData). */
  written = 0;
  /**
   * `body`, when given, goes in the same write (Transport.sendTwo, this
   * same function: a method of its own cost 11 JsVars of an idle board's
   * 1,200), joined natively by E.toString.
   */
  send(id: number, buf: Bytes, off: number, len: number, body?: Bytes, bodyOff?: number, bodyLen?: number): boolean {
    const sock = this.socks["s" + id];
    if (sock === undefined) return false;
    const head = (buf as any).subarray(off, off + len);
    try {
      sock.write(body === undefined ? E.toString(head) : E.toString(head, (body as any).subarray(bodyOff, bodyOff! + bodyLen!)));
    } catch (e) {
      return false; // closed under us: 'close' follows
    }
    const n = body === undefined ? len : len + bodyLen!;
    this.queue["s" + id] += n;
    this.written += n;
    return true;
  }
  sendTwo = this.send;
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
  /**
   * For a send that can wait (a retained replay: a 536-byte chunk may hold 60
   * SUBSCRIBEs) everything written since the last 'drain'; otherwise, that
   * only while the pool is over its budget.
   */
  queued(id: number, waiting?: boolean): number {
    const q = this.queue["s" + id];
    return q === undefined || (!this.congested && waiting !== true) ? 0 : q;
  }
}

let broker: Broker | undefined = undefined;

/**
 * Start the broker from the configuration in Storage (mqtt.json); returns
 * it (the one already running, if any), or undefined without a configuration.
 */
export function start(): Broker | undefined {
  if (broker !== undefined) return broker;
  // Espruino's built-in modules, through `global` so the bundler leaves the call alone
  const storage = global.require("Storage");
  const cfg = storage.readJSON("mqtt.json", true) as BoardConfig | undefined;
  if (cfg === undefined) {
    print("mqtt: no mqtt.json in Storage; flash with npm run flash");
    return undefined;
  }
  const config = cfg.config;
  const profile = config.profile;
  installText();
  const crypto = global.require("crypto");
  const transport = new NetTransport();
  const b = new Broker(config, {
    alloc: { bytes: (n: number) => new Uint8Array(n) },
    hashes: { sha256: (s: string) => E.toString(crypto.SHA256(s)) },
    now: Date.now, // a native function needs no closure
    random: (n: number) => Math.floor(Math.random() * n),
    log: cfg.verbose ? (line: string) => print(line) : undefined,
    // after a GC: without one an idle broker reads 700-1,900 JsVars of garbage higher
    memoryUsed: () => process.memory().usage,
    // refuse new clients and subscriptions before the pool runs dry; over budget, collect the
    // garbage first (cycles are only freed by the mark-sweep, which a busy broker never idles into)
    lowMemory: () => profile.memoryBudget > 0 && process.memory(false).usage > profile.memoryBudget &&
      process.memory().usage > profile.memoryBudget,
  }, transport);
  broker = b;

  // the persisted state (core/persist/state_files.ts), in Storage itself: the journal's escaping
  // below is the bridge's
  const files = startRun(b, storage);

  /*
   * A bridge (one on a board: lwIP's sockets are counted in boards/): an
   * outbound socket, the journal in flash with persistence, and its code
   * cold, loaded per event; a board without one creates none of this.
   */
  // no variable for it: one kept in start()'s scope is a JsVar an idle broker without a bridge pays
  if (config.bridges !== undefined && config.bridges.length > 0) {
    b.platform.connect = netConnect;
    // sized so that the core compacts it before it fills (an append that does not fit rewrites it)
    if (config.persistence) b.platform.storage = flashJournal(storage, 2 * (journalCompactAt(b) + profile.maxPacketSize) + 64);
    startBridges(b);
  }

  const port = config.listeners.length > 0 ? config.listeners[0].port : 1883;
  // the stream path (receive.ts streamed), loaded into RAM at a stream's first chunk, let go with
  // the QoS 1/2 path
  let warmStream: typeof streamed | undefined = undefined;
  const listen = () => {
    const chunk = new Uint8Array(CHUNK);
    /*
     * One set of handlers for every socket, called with the socket as `this`
     * and its Receiver in sock.rx: closures per socket would cost a client
     * about 20 JsVars more.
     */
    const onData = function (this: any, d: string) {
      if (transport.congested || transport.written > profile.maxSendQueueBytes) {
        // over budget only after a GC: a busy broker piles up cyclic garbage (1,000 JsVars in the
        // house bench) that would otherwise count as queued bytes and drop QoS 0
        transport.congested = b.platform.lowMemory!();
        transport.written = 0;
      }
      const rx: Receiver = this.rx;
      // a publisher's stream of one packet shape, once learnt: its chunks whole, before receive's loop
      if (rx.stream !== undefined && !transport.congested) {
        if (warmStream === undefined) warmStream = streamed;
        if (warmStream(b, transport, rx, d)) return;
      }
      receive(b, transport, rx, d, chunk, transport.congested);
    };
    const onDrain = function (this: any) {
      const id = this.rx.conn.id;
      transport.queue["s" + id] = 0;
      b.drained(id);
    };
    const onClose = function (this: any) {
      const id = this.rx.conn.id;
      delete transport.socks["s" + id];
      delete transport.queue["s" + id];
      // the socket holds its Receiver, whose connection's routes may hold the socket: break the ring by hand
      this.rx = undefined;
      this.removeAllListeners();
      b.closed(id);
    };
    global.require("net").createServer((sock: any) => {
      const id = b.accept("0.0.0.0");
      transport.socks["s" + id] = sock;
      transport.queue["s" + id] = 0;
      sock.rx = { conn: b.connection(id) as Connection, pend: "", inside: false } as Receiver;
      sock.on("data", onData);
      sock.on("drain", onDrain);
      sock.on("close", onClose);
    }).listen(port);
    print("mqtt: broker listening on port " + port);
  };

  const w = cfg.wifi;
  if (w === undefined) {
    listen(); // no Wi-Fi configured (Espruino's Linux build: the network is already up)
  } else {
    // only required when configured: asking for a module a build lacks costs the whole pool
    const wifi = global.require("Wifi");
    if (w.hostname !== "") wifi.setHostname(w.hostname);
    if (w.ap) {
      wifi.startAP(w.ssid, { password: w.password, authMode: "wpa2" }, () => listen());
    } else {
      let listening = false;
      /*
       * Espruino's ESP32 Wi-Fi retries a lost station link a few times by itself and then reports
       * 'disconnected' (libs/network/esp32/jswrap_esp32_network.c); a connect that fails may never
       * call back. So a 'disconnected' is what schedules the next try, with backoff, at most a
       * minute apart, and 'connected' (an IP, after our try or its own) is what says it is back.
       */
      let retry: any = undefined;
      let delay = 1000;
      const attempt = () => {
        retry = undefined;
        wifi.connect(w.ssid, { password: w.password }, (err: any) => {
          if (err) {
            later();
            return;
          }
          wifi.getIP((e: any, ip: any) => print("mqtt: wifi up " + (ip ? ip.ip : "")));
          if (!listening) listen();
          listening = true;
        });
      };
      const later = () => {
        if (retry !== undefined) return;
        retry = setTimeout(attempt, delay);
        delay = delay < 60000 ? delay * 2 : delay;
      };
      attempt();
      // a bridge's socket over a Wi-Fi that is gone would only time out at its keepalive: it goes
      // now, and connects again as soon as the network is back, not after its backoff
      wifi.on("disconnected", () => {
        if (b.bridges !== undefined) bridgesNetwork(b, false);
        later();
      });
      wifi.on("connected", () => {
        delay = 1000;
        if (b.bridges !== undefined) bridgesNetwork(b, true);
      });
    }
  }

  setInterval(() => {
    runTick(b, files);
    if (b.bridges !== undefined) tickBridges(b);
    // no route kept (a client came, went or subscribed since the last QoS 1/2 traffic): the warm
    // QoS 1/2 path leaves RAM until the next such message (receive.ts)
    if (b.routeCount === 0) {
      coolDown();
      warmStream = undefined;
    }
    // a stream learnt on a route since dropped holds that route, its receivers' sessions and sockets,
    // until its publisher's next chunk, which may never come: let go of it now
    for (const key in transport.socks) {
      const rx: Receiver | undefined = transport.socks[key].rx;
      if (rx !== undefined && rx.stream !== undefined && b.routes[rx.stream.key] !== rx.stream.route) rx.stream = undefined;
    }
  }, profile.tickMs);
  return b;
}
