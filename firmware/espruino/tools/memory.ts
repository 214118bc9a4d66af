/**
 * Memory of the broker on the Espruino interpreter in firmware/espruino/interpreter
 * (sized like an ESP32: 4,000 JsVars of 13 bytes), driven by MQTT clients over TCP:
 * - idle, loaded from flash;
 * - with 8 clients, 4 subscriptions each and 16 retained messages of 32 bytes;
 * - after 10,000 QoS 0 and 1,000 QoS 1 messages through it (no growth);
 * - after hostile load (oversized packets, subscription, retained and
 *   connection floods): still answering, still inside its pool.
 * Figures are read over the telnet console with process.memory() after a
 * garbage collection. The interpreter runs the real firmware; these are the
 * interpreter's figures, which match an ESP32 build's variable size but not
 * its exact heap layout: treat them as close estimates for a board.
 */
import * as net from "node:net";
import mqtt from "mqtt";
import { encodeConnect } from "../../core/codec/encode";
import { flash } from "./flash";
import { EspruinoConsole, openLink } from "./console";
import { startBoard } from "./process";

export interface EspruinoMemory {
  total: number;
  idle: number;
  loaded: number;
  perClient: number;
  perSubscription: number;
  perRetained: number;
  afterTraffic: number;
  growth: number;
  /** Messages the subscriber got in the measured traffic (10,000 QoS 0 + 1,000 QoS 1; 10,000 when quick). */
  delivered: number;
  afterAbuse: number;
  abuseRefused: { connack3: number; suback80: number };
  /** Retained messages that came back for 70 repeated '#' (issue 13), and the pool after them. */
  retainedBack?: number;
  afterAmplification?: number;
  /** How soon an HTTP request on the MQTT port was closed. */
  httpClosedMs?: number;
}

/** `p`, or an error naming what did not come within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${what} within ${ms / 1000} s`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}

/** An MQTT.js client of the board, connected (MQTT 3.1.1, no reconnects). */
export function client(port: number, id: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: id, reconnectPeriod: 0, connectTimeout: 20000 });
}

/**
 * `quick` (what npm run bench:memory runs, to stay within its time): idle,
 * loaded, and no growth over 10,000 QoS 0; without the 1,000 QoS 1 (which
 * go the parser's way, about 2 minutes here) and the hostile phase.
 * test/system/04-espruino-memory.test.ts runs it all and holds the budgets.
 */
export async function measureEspruino(log: (l: string) => void = console.log, quick = false): Promise<EspruinoMemory> {
  const board = await startBoard("telnet");
  const clients: mqtt.MqttClient[] = [];
  let con: EspruinoConsole | undefined;
  try {
    const up = await flash({ port: "tcp://127.0.0.1:2323", board: "espruino-linux", out: () => {}, verbose: process.env.VERBOSE === "1" });
    const c0 = new EspruinoConsole(await openLink("tcp://127.0.0.1:2323"));
    con = c0;
    // the telnet console is itself a connection: measure with it open every time
    const used = async () => (await c0.evalJson<{ usage: number }>("process.memory()", 20000)).usage;
    const total = (await c0.evalJson<{ total: number }>("process.memory()")).total;
    const idle = await used();
    log(`espruino: idle ${idle} JsVars of ${total}`);

    // 8 clients, each with 4 subscriptions
    for (let i = 0; i < 8; i++) clients.push(await client(up.port, `c${i}`));
    const withClients = await used();
    log(`espruino: 8 clients connected: ${withClients} JsVars`);
    let refused = 0;
    for (let i = 0; i < 8; i++) {
      for (const f of [`home/room${i}/+`, `sensors/${i}/#`, `alerts/${i}`, `cmd/${i}/set`]) {
        // MQTT.js rejects a SUBACK 0x80: count it instead
        await clients[i].subscribeAsync(f, { qos: 1 }).catch(() => refused++);
      }
    }
    if (refused > 0) log(`espruino: ${refused} of 32 subscriptions refused (SUBACK 0x80: memory budget)`);
    const withSubs = await used();
    const payload = "x".repeat(32);
    for (let r = 0; r < 16; r++) await clients[r % 8].publishAsync(`state/dev${r}`, payload, { qos: 1, retain: true });
    const loaded = await used();
    log(`espruino: 8 clients +${withClients - idle}, 32 subscriptions +${withSubs - withClients}, 16 retained +${loaded - withSubs}: ${loaded} JsVars`);

    // traffic: 10,000 QoS 0 and 1,000 QoS 1 through it, every one delivered
    let received = 0;
    clients[1].on("message", () => received++);
    const pub = clients[0];
    const settle = async (want: number, ms: number) => {
      const deadline = Date.now() + ms;
      while (received < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    // warm-up: what the first messages create once and keep (the publisher's QoS 0 route; the
    // counters passing 8,191, above which a number takes a JsVar of its own) is not growth
    const qos0Burst = async (base: number) => {
      for (let i = 0; i < 10000; i++) {
        pub.publish("home/room1/temp", "21.5", { qos: 0 });
        // a sensor's pace, in bursts: the board must not be asked to queue more than it holds
        if (i % 100 === 99) await settle(base + i + 1 - 200, 5000);
      }
      await settle(base + 10000, 30000);
    };
    await qos0Burst(0);
    for (let i = 0; i < 20; i++) await pub.publishAsync("home/room1/temp", "22", { qos: 1 });
    await settle(10020, 20000);
    received = 0;
    const warm = await used();
    log(`espruino: warmed up (10,020 messages: the route kept, counters past 8,191): ${warm} JsVars`);
    const t0 = Date.now();
    await qos0Burst(0);
    const qos0 = received;
    log(`espruino: ${qos0} of 10,000 QoS 0 delivered in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${await used()} JsVars`);
    if (quick) {
      const afterQos0 = await used();
      log(`espruino: quick run: no QoS 1 and hostile phases (npm run test:system runs them)`);
      return {
        total, idle, loaded,
        perClient: Math.round((withClients - idle) / 8),
        perSubscription: Math.round((withSubs - withClients) / 32),
        perRetained: Math.round((loaded - withSubs) / 16),
        afterTraffic: afterQos0, growth: afterQos0 - warm, delivered: received, afterAbuse: -1, abuseRefused: { connack3: -1, suback80: -1 },
      };
    }
    // QoS 1 four at a time, and never more than 8 ahead of the subscriber: within what its window
    // (maxInflight 4) and queue (8) hold, so none is dropped for a full queue and every one can be
    // counted. (The board acknowledges a publisher at once, as mosquitto does, so without the second
    // rule a publisher that the board serves faster than the subscriber's acks fills the queue.)
    let next = 0;
    const lane = async () => {
      while (next < 1000) {
        const deadline = Date.now() + 5000;
        while (next - (received - qos0) >= 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        next++;
        await pub.publishAsync("home/room1/temp", "22", { qos: 1 }).catch(() => undefined);
      }
    };
    await Promise.all([0, 1, 2, 3].map(() => lane()));
    await settle(qos0 + 1000, 30000);
    // the subscriber has its last messages, but the board may not have read its PUBACKs yet: until
    // it has, up to a window of in-flight messages (4 x ~13 JsVars) is still held, which is not growth
    await new Promise((r) => setTimeout(r, 2000));
    const afterTraffic = await used();
    const traffic = received;
    log(`espruino: after 10,000 QoS 0 + 1,000 QoS 1 (${received} delivered in ${((Date.now() - t0) / 1000).toFixed(1)} s): ` +
      `${afterTraffic} JsVars, ${afterTraffic - warm >= 0 ? "+" : ""}${afterTraffic - warm} since warm-up`);

    // hostile: connections beyond the limit, a subscription flood, an oversized packet
    let connack3 = 0;
    let suback80 = 0;
    const raw: net.Socket[] = [];
    for (let i = 0; i < 6; i++) {
      const s = net.connect(up.port, "127.0.0.1");
      raw.push(s);
      const buf = new Uint8Array(64);
      const n = encodeConnect(buf, 0, { protocolName: "MQTT", protocolLevel: 4, clientId: `flood${i}`, cleanSession: true, keepalive: 60,
        username: undefined, password: undefined, willTopic: undefined, willMessage: undefined, willQos: 0, willRetain: false });
      s.write(buf.subarray(0, n));
      const ack = await new Promise<Buffer>((r) => { s.once("data", r); setTimeout(() => r(Buffer.alloc(0)), 5000); });
      if (ack[3] === 3) connack3++;
    }
    log(`espruino: ${connack3} of 6 CONNECTs past the limit refused with CONNACK 3`);
    // the refused sockets go before the next test: the interpreter has few sockets to spare
    for (const s of raw) s.destroy();
    const flood = clients[2];
    for (let i = 0; i < 40; i++) {
      await within(flood.subscribeAsync(`flood/${i}/+`, { qos: 0 }), 10000, "a SUBACK").catch(() => suback80++);
    }
    log(`espruino: ${suback80} of 40 flood subscriptions refused with SUBACK 0x80`);
    // retained amplification (issue 13): one SUBSCRIBE with 60 '#' and ten SUBSCRIBE '#' in one write,
    // raw on a connected client's socket: the replay is paced by the socket, the pool holds
    const amp = clients[4];
    let retainedBack = 0;
    amp.on("message", (_t, _p, packet) => { if (packet.retain) retainedBack++; });
    // MQTT.js is told nothing of these SUBSCRIBEs: ids far from its own, their SUBACKs it ignores
    const sub = (id: number, n: number): Buffer => {
      const body: number[] = [Math.floor(id / 256), id % 256];
      for (let k = 0; k < n; k++) body.push(0, 1, 35, 0);
      const len = body.length < 128 ? [body.length] : [128 + (body.length % 128), Math.floor(body.length / 128)];
      return Buffer.from([0x82, ...len, ...body]);
    };
    const ten: Buffer[] = [sub(60000, 60)];
    for (let k = 1; k <= 10; k++) ten.push(sub(60000 + k, 1));
    amp.stream.write(Buffer.concat(ten));
    await within(new Promise<void>((r) => {
      const t = setInterval(() => { if (retainedBack >= 16) { clearInterval(t); r(); } }, 50);
    }), 30000, "the retained set after 70 repeated '#'");
    await new Promise((r) => setTimeout(r, 2000));
    const afterAmplification = await used();
    log(`espruino: 60 '#' in one SUBSCRIBE and ten SUBSCRIBE '#' in one write: ${retainedBack} retained messages back ` +
      `(16 held; the old way sent them 70 times at once), ${afterAmplification} JsVars`);
    // an HTTP request on the MQTT port closes at once, not at the CONNECT timeout (10 s)
    const http = net.connect(up.port, "127.0.0.1");
    const httpStart = Date.now();
    await within(new Promise<void>((r) => {
      http.on("error", () => {});
      http.once("close", () => r());
      http.write("GET / HTTP/1.1\r\nHost: board\r\n\r\n");
    }), 5000, "the HTTP request's close");
    const httpClosedMs = Date.now() - httpStart;
    log(`espruino: an HTTP request on the MQTT port closed after ${httpClosedMs} ms`);

    // a connected client sends a packet over the 1 KB limit: the broker closes that connection
    const big = clients[3];
    const closed = new Promise<void>((r) => big.once("close", () => r()));
    big.publish("big", "y".repeat(1500), { qos: 0 });
    await within(closed, 15000, "the oversized packet's connection to close");

    await new Promise((r) => setTimeout(r, 1000));
    const afterAbuse = await used();
    log(`espruino: after abuse (${connack3} CONNACK 3, ${suback80} SUBACK 0x80, an oversized packet closed): ${afterAbuse} JsVars`);

    for (const c of clients) await within(c.endAsync(), 10000, "DISCONNECT").catch(() => c.end(true));
    clients.length = 0;
    await c0.close();
    con = undefined;
    return {
      total,
      idle,
      loaded,
      perClient: Math.round((withClients - idle) / 8),
      perSubscription: Math.round((withSubs - withClients) / 32),
      perRetained: Math.round((loaded - withSubs) / 16),
      afterTraffic,
      growth: afterTraffic - warm,
      delivered: traffic,
      afterAbuse,
      abuseRefused: { connack3, suback80 },
      retainedBack,
      afterAmplification,
      httpClosedMs,
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}; the board printed: ${board.log().slice(-300)} ${con ? con.output.slice(-1500) : ""}`);
  } finally {
    for (const c of clients) c.end(true);
    await board.kill();
  }
}

if (require.main === module) {
  measureEspruino(console.log, process.argv.includes("--quick")).then((m) => {
    console.log(JSON.stringify(m, null, 1));
    process.exit(0);
  }, (e) => {
    console.error(`espruino memory: ${(e as Error).message}`);
    process.exit(1);
  });
}
