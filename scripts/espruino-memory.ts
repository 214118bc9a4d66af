/**
 * Memory of the broker on the Espruino interpreter in ../shared (sized like an
 * ESP32: 4,000 JsVars of 13 bytes), driven by MQTT clients over TCP:
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
import { encodeConnect, encodePublishString, encodeSubscribe } from "../firmware/codec/encode";
import { flash } from "./flash";
import { EspruinoConsole, openLink } from "./lib/espruino-console";
import { startBoard } from "./lib/espruino-process";

export interface EspruinoMemory {
  total: number;
  idle: number;
  loaded: number;
  perClient: number;
  perSubscription: number;
  perRetained: number;
  afterTraffic: number;
  growth: number;
  afterAbuse: number;
  abuseRefused: { connack3: number; suback80: number };
}

function client(port: number, id: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: id, reconnectPeriod: 0, connectTimeout: 20000 });
}

export async function measureEspruino(log: (l: string) => void = console.log): Promise<EspruinoMemory> {
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
    for (let i = 0; i < 10000; i++) {
      pub.publish("home/room1/temp", "21.5", { qos: 0 });
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 1000; i++) await pub.publishAsync("home/room1/temp", "22", { qos: 1 });
    const deadline = Date.now() + 60000;
    while (received < 11000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const afterTraffic = await used();
    log(`espruino: after 10,000 QoS 0 + 1,000 QoS 1 (${received} delivered): ${afterTraffic} JsVars, ${afterTraffic - loaded >= 0 ? "+" : ""}${afterTraffic - loaded}`);

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
    const flood = clients[2];
    for (let i = 0; i < 40; i++) {
      await flood.subscribeAsync(`flood/${i}/+`, { qos: 0 }).catch(() => suback80++);
    }
    const big = net.connect(up.port, "127.0.0.1");
    const cbuf = new Uint8Array(2048);
    let n = encodeConnect(cbuf, 0, { protocolName: "MQTT", protocolLevel: 4, clientId: "big", cleanSession: true, keepalive: 60,
      username: undefined, password: undefined, willTopic: undefined, willMessage: undefined, willQos: 0, willRetain: false });
    n += encodePublishString(cbuf, n, "big", "y".repeat(1500), 0, false, false, 0);
    big.write(cbuf.subarray(0, n));
    await new Promise((r) => big.once("close", r));
    for (const s of raw) s.destroy();
    const s2 = new Uint8Array(64);
    void encodeSubscribe; void s2;
    await new Promise((r) => setTimeout(r, 1000));
    const afterAbuse = await used();
    log(`espruino: after abuse (${connack3} CONNACK 3, ${suback80} SUBACK 0x80, an oversized packet closed): ${afterAbuse} JsVars`);

    for (const c of clients) await c.endAsync();
    clients.length = 0;
    await new Promise((r) => setTimeout(r, 1000));
    const end = await used();
    await c0.close();
    return {
      total,
      idle,
      loaded,
      perClient: Math.round((withClients - idle) / 8),
      perSubscription: Math.round((withSubs - withClients) / 32),
      perRetained: Math.round((loaded - withSubs) / 16),
      afterTraffic,
      growth: afterTraffic - loaded,
      afterAbuse,
      abuseRefused: { connack3, suback80 },
    } as EspruinoMemory & { end?: number };
  } catch (e) {
    throw new Error(`${(e as Error).message}; the board printed: ${board.log().slice(-300)} ${con ? con.output.slice(-1500) : ""}`);
  } finally {
    for (const c of clients) c.end(true);
    await board.kill();
  }
}

if (require.main === module) {
  measureEspruino().then((m) => {
    console.log(JSON.stringify(m, null, 1));
    process.exit(0);
  }, (e) => {
    console.error(`espruino memory: ${(e as Error).message}`);
    process.exit(1);
  });
}
