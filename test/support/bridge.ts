/**
 * What the bridge suites share: an upstream broker the test can stop and
 * start again on the same port (aedes in this process, or Debian's
 * mosquitto as a child), our broker as a child process (for SIGKILL), MQTT.js
 * clients that count what they get, and the outage scenario itself.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { connect as mqttConnect, IClientOptions, MqttClient } from "mqtt";

export const ROOT = path.join(__dirname, "..", "..");
const BIN = path.join(ROOT, "bin", "esp-mqtt-broker.js");

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function until(cond: () => boolean, what: string, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out after " + ms + " ms waiting for " + what);
    await sleep(20);
  }
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "bridge-" + tag + "-"));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

/** An upstream the test stops (its sockets cut, its state kept) and starts again on the same port. */
export interface Upstream {
  port: number;
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/**
 * aedes on node:net. With `bridgeAware`, it does what mosquitto does for a
 * client that connected with the bridge bit (try_private, level 0x84): its
 * own publishes are not sent back to it. aedes alone echoes them.
 */
export async function aedesUpstream(port: number, bridgeAware = true): Promise<Upstream> {
  const { Aedes } = await import("aedes");
  const bridges = new Set<string>();
  const aedes = await Aedes.createBroker({
    preConnect: (client: any, packet: any, done: (e: Error | null, ok: boolean) => void) => {
      if (packet.bridgeMode === true) bridges.add(packet.clientId);
      done(null, true);
    },
    authorizePublish: (client: any, packet: any, done: (e?: Error | null) => void) => {
      if (client !== null && client !== undefined) packet.clientId = client.id;
      done(null);
    },
    authorizeForward: (client: any, packet: any) => {
      if (bridgeAware && bridges.has(client.id) && packet.clientId === client.id) return undefined;
      return packet;
    },
  } as any);
  let server: net.Server | undefined;
  const socks = new Set<net.Socket>();
  const up: Upstream = {
    port, name: "aedes",
    async start() {
      server = net.createServer((s) => {
        socks.add(s);
        s.on("close", () => socks.delete(s));
        aedes.handle(s);
      });
      await new Promise<void>((r) => server!.listen(port, "127.0.0.1", () => r()));
    },
    async stop() {
      const s = server;
      server = undefined;
      if (s === undefined) return;
      for (const k of socks) k.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    },
    async close() {
      await up.stop();
      await new Promise<void>((r) => aedes.close(() => r()));
    },
  };
  await up.start();
  return up;
}

/** Debian's mosquitto (/usr/sbin/mosquitto) as upstream, with persistence so a persistent subscriber's queue outlives a restart. */
export async function mosquittoUpstream(port: number): Promise<Upstream> {
  const bin = fs.existsSync("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";
  const dir = tmpDir("mosq");
  const conf = path.join(dir, "mosquitto.conf");
  fs.writeFileSync(conf, [
    "listener " + port + " 127.0.0.1", "allow_anonymous true", "persistence true", "persistence_location " + dir + "/",
    "autosave_interval 1", "log_dest none", "",
  ].join("\n"));
  let child: ChildProcess | undefined;
  const up: Upstream = {
    port, name: "mosquitto",
    async start() {
      const c = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
      child = c;
      let err = "";
      c.stderr!.on("data", (d) => (err += d));
      const deadline = Date.now() + 10000;
      while (!(await canConnect(port))) {
        if (c.exitCode !== null) throw new Error("mosquitto exited: " + err);
        if (Date.now() > deadline) throw new Error("mosquitto did not listen on " + port);
        await sleep(50);
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c === undefined || c.exitCode !== null) return;
      // SIGTERM: mosquitto saves its state (the persistent subscriber's session), then exits
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGTERM");
      await exited;
    },
    async close() {
      await up.stop();
    },
  };
  await up.start();
  return up;
}

export function haveMosquitto(): boolean {
  return spawnSync("sh", ["-c", "command -v /usr/sbin/mosquitto || command -v mosquitto"]).status === 0;
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Our broker as a child process (bin/esp-mqtt-broker.js -c conf), so a test can SIGKILL it. */
export class ChildBroker {
  child: ChildProcess | undefined;
  out = "";
  constructor(public conf: string, public port: number) {}
  async start(): Promise<void> {
    const c = spawn(process.execPath, [BIN, "-c", this.conf, "-v"], { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT });
    this.child = c;
    c.stdout!.on("data", (d) => (this.out += d));
    c.stderr!.on("data", (d) => (this.out += d));
    await until(() => /listening on/.test(this.out) || c.exitCode !== null, "our broker to listen", 20000);
    if (c.exitCode !== null) throw new Error("our broker exited: " + this.out);
    this.out = "";
  }
  async kill(signal: NodeJS.Signals): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill(signal);
    await exited;
  }
}

/**
 * Debian's mosquitto as the local broker, from the same configuration
 * (mosquitto reads the lines ours does), for the comparison figure.
 */
export class MosquittoLocal {
  child: ChildProcess | undefined;
  constructor(public conf: string, public port: number, public dir: string) {
    fs.appendFileSync(conf, "autosave_interval 1800\nlog_dest none\n");
    fs.writeFileSync(conf, fs.readFileSync(conf, "utf8").replace("persistence_location " + dir, "persistence_location " + dir + "/"));
  }
  async start(): Promise<void> {
    const bin = fs.existsSync("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";
    const c = spawn(bin, ["-c", this.conf], { stdio: "ignore" });
    this.child = c;
    const deadline = Date.now() + 10000;
    while (!(await canConnect(this.port))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error("local mosquitto did not start");
      await sleep(50);
    }
  }
  async kill(signal: NodeJS.Signals): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill(signal);
    await exited;
  }
}

/** An MQTT.js client that keeps every message it gets. */
export interface Counter {
  client: MqttClient;
  got: { topic: string; payload: string; retain: boolean; qos: number }[];
}

export async function client(port: number, opts: IClientOptions, subs: { [filter: string]: 0 | 1 | 2 } = {}): Promise<Counter> {
  const c = mqttConnect({ host: "127.0.0.1", port, reconnectPeriod: 200, connectTimeout: 5000, ...opts });
  const got: Counter["got"] = [];
  c.on("message", (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos }));
  c.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("client could not connect to " + port)), 10000);
    c.once("connect", () => {
      clearTimeout(t);
      resolve();
    });
  });
  const map: { [f: string]: { qos: 0 | 1 | 2 } } = {};
  for (const f of Object.keys(subs)) map[f] = { qos: subs[f] };
  if (Object.keys(map).length > 0) await c.subscribeAsync(map);
  return { client: c, got };
}

export async function closeClient(c: Counter | undefined): Promise<void> {
  if (c !== undefined) await c.client.endAsync(true);
}

/**
 * The outage scenario of issue 14: our broker (a child, `persistence true`)
 * bridged to `up`; 50 QoS 1 messages while the upstream is up, the upstream
 * down, 50 more (each PUBACKed by our broker), our broker SIGKILLed and
 * started again, then the upstream back. Returns what the upstream's
 * persistent subscriber counted.
 */
/** A local broker the scenario can SIGKILL and start again (a child process, or the board on the interpreter). */
export interface LocalBroker {
  start(): Promise<void>;
  kill(s: NodeJS.Signals): Promise<void>;
}

export interface OutageOptions {
  /** The local broker from the scenario's configuration file; default ours as a child process. */
  local?: "ours" | "mosquitto" | ((conf: string, port: number, dir: string) => LocalBroker);
  /** Its listener's port (the board's is 1883); default a free one. */
  port?: number;
  /** Called with the bridge up and nothing queued (0), then with the upstream down and 16, 32 and 50 messages queued, and -50 with the 50 restored after the restart (the board's memory then). */
  whileQueued?: (n: number) => Promise<void>;
  /** At most this long for the delivery after the restart. */
  deliverMs?: number;
  name?: string;
}

export async function outageScenario(makeUp: (port: number) => Promise<Upstream>, log: (s: string) => void, optsOrLocal: "ours" | "mosquitto" | OutageOptions = "ours"): Promise<{
  sent: number; queued: number; delivered: number; distinct: number; duplicates: number; inOrder: boolean; up: Upstream;
}> {
  const upPort = await freePort();
  const opts: OutageOptions = typeof optsOrLocal === "string" ? { local: optsOrLocal } : optsOrLocal;
  const localIs = opts.local === undefined ? "ours" : opts.local;
  const ourPort = opts.port ?? await freePort();
  const up = await makeUp(upPort);
  const dir = tmpDir("outage");
  const conf = path.join(dir, "broker.conf");
  fs.writeFileSync(conf, [
    "listener " + ourPort + (opts.port === undefined ? " 127.0.0.1" : ""), "allow_anonymous true", "persistence true", "persistence_location " + dir,
    "connection outage", "address 127.0.0.1:" + upPort, "remote_clientid outage", "topic sensor/# out 1", "restart_timeout 1", "keepalive_interval 5", "",
  ].join("\n"));
  const ours: LocalBroker = localIs === "ours" ? new ChildBroker(conf, ourPort)
    : localIs === "mosquitto" ? new MosquittoLocal(conf, ourPort, dir) : localIs(conf, ourPort, dir);
  let sub: Counter | undefined;
  let pub: Counter | undefined;
  try {
    sub = await client(upPort, { clientId: "far-sub", clean: false }, { "sensor/#": 1 });
    await ours.start();
    // the bridge is up once its notification is on the upstream
    const watch = await client(upPort, { clientId: "watch" }, { "$SYS/broker/connection/outage/state": 1 });
    await until(() => watch.got.some((m) => m.payload === "1"), "the bridge to connect");
    await closeClient(watch);
    if (opts.whileQueued !== undefined) await opts.whileQueued(0);
    pub = await client(ourPort, { clientId: "pub", reconnectPeriod: 0 });
    let sent = 0;
    for (let i = 0; i < 50; i++) {
      await pub.client.publishAsync("sensor/a", "m" + i, { qos: 1 });
      sent++;
    }
    await until(() => new Set(sub!.got.map((m) => m.payload)).size >= 50, "the first 50 upstream");
    await up.stop();
    await sleep(300);
    for (let i = 50; i < 100; i++) {
      // resolves on our broker's PUBACK: from here on it is ours to keep
      await pub.client.publishAsync("sensor/a", "m" + i, { qos: 1 });
      sent++;
      if ((i === 65 || i === 81) && opts.whileQueued !== undefined) await opts.whileQueued(i - 49);
    }
    if (opts.whileQueued !== undefined) await opts.whileQueued(50);
    await closeClient(pub);
    pub = undefined;
    const queued = 50;
    await ours.kill("SIGKILL");
    await ours.start();
    if (opts.whileQueued !== undefined) await opts.whileQueued(-50);
    await up.start();
    try {
      await until(() => new Set(sub!.got.map((m) => m.payload)).size >= 100, "all 100 upstream", opts.deliverMs ?? (localIs === "mosquitto" ? 12000 : 30000));
    } catch (e) {
      if (localIs !== "mosquitto") throw e;
    }
    await sleep(500);
    const payloads = sub.got.filter((m) => m.topic === "sensor/a").map((m) => m.payload);
    const distinct = new Set(payloads).size;
    // in order: the first arrival of each message is in sending order
    const firsts: number[] = [];
    const seen = new Set<string>();
    for (const p of payloads) {
      if (seen.has(p)) continue;
      seen.add(p);
      firsts.push(Number(p.substring(1)));
    }
    const inOrder = firsts.every((v, i) => i === 0 || v > firsts[i - 1]);
    log(`bridge outage, ${opts.name ?? (localIs === "ours" ? "our broker" : "mosquitto")} bridged to ${up.name}: sent ${sent}, queued over the outage ${queued}, delivered ${distinct}/100 distinct (${payloads.length} arrivals, ${payloads.length - distinct} QoS 1 duplicates), in order: ${inOrder}`);
    return { sent, queued, delivered: payloads.length, distinct, duplicates: payloads.length - distinct, inOrder, up };
  } finally {
    await closeClient(pub);
    await closeClient(sub);
    await ours.kill("SIGTERM");
    await up.close();
  }
}
