/**
 * The bridge on the board (issue 14): the firmware on the Espruino
 * interpreter (sized like an ESP32), flashed with `npm run flash` and a
 * mosquitto.conf that bridges to Debian's mosquitto. The outage scenario of
 * 06 with the board as the local broker: 50 QoS 1 messages while the
 * upstream is up, the upstream down, 50 more (each PUBACKed by the board,
 * so kept in its flash journal first), the board's power cut (SIGKILL of the
 * interpreter) and its reboot from the same flash, then the upstream back:
 * 100/100 must arrive, in order. The board's memory is read over its
 * console with the bridge connected and with its queue filling, and must
 * stay inside the profile's budget. Then a link that stops passing bytes
 * without closing (Wi-Fi gone, as lwIP sees it): the bridge notices at its
 * keepalive, and reconnects once the path is back.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { flash } from "../../firmware/espruino/tools/flash";
import { EspruinoConsole, openLink } from "../../firmware/espruino/tools/console";
import { Board, startBoard } from "../../firmware/espruino/tools/process";
import { loadProfile } from "../../host-sim/config";
import {
  canConnect, client, closeClient, freePort, haveMosquitto, LocalBroker, mosquittoUpstream, outageScenario, sleep, tmpDir, until,
} from "../support/bridge";

const test = suite("07 bridge on the board");
const BOARD_PORT = 1883;
const CONSOLE = "tcp://127.0.0.1:2323";
const profile = loadProfile("espruino-linux");

/** The board as the scenario's local broker: flashed at the first start, rebooted from its flash after. */
class BoardBroker implements LocalBroker {
  board: Board | undefined;
  flashed = false;
  memory: { [at: string]: { most: number; settled: number } } = {};
  constructor(public conf: string, public dir: string, public log: (s: string) => void) {
    fs.mkdirSync(dir, { recursive: true });
  }
  async start(): Promise<void> {
    this.board = await startBoard("telnet", this.dir);
    if (!this.flashed) {
      const r = await flash({ port: CONSOLE, board: "espruino-linux", config: this.conf, verbose: process.env.VERBOSE === "1", out: (l) => /bridge/.test(l) && this.log(l) });
      this.flashed = true;
      this.log(`board flashed: ${r.memory.usage} JsVars used of ${r.memory.total} at start`);
    } else {
      // a reboot: .bootcde starts the broker by itself
      const deadline = Date.now() + 60000;
      while (!(await canConnect(BOARD_PORT))) {
        if (Date.now() > deadline) throw new Error("the board did not come back: " + this.board.log().slice(-400));
        await sleep(100);
      }
    }
  }
  async kill(): Promise<void> {
    const b = this.board;
    this.board = undefined;
    if (b !== undefined) await b.kill();
  }
  /**
   * JsVars in use after a GC, read over the console 400 ms apart: the highest reading, to hold
   * against a budget, and the settled one, once two in a row agree after more than two of the
   * board's ticks (profile.tickMs). Right after a batch of messages the board holds about 125
   * JsVars that its next ticks let go (readings such as 1907, 1782, 1782 and 1997, 1997, 1872 in
   * one run), so one reading compared with another can be off by that much: over the 34 messages
   * between two points it made a queued message's cost read 8.7 JsVars where it is 5.0.
   */
  async used(): Promise<{ most: number; settled: number }> {
    const con = new EspruinoConsole(await openLink(CONSOLE));
    try {
      const t0 = Date.now();
      const readings: number[] = [];
      for (;;) {
        if (readings.length > 0) await new Promise((r) => setTimeout(r, 400));
        readings.push((await con.evalJson<{ usage: number }>("process.memory()", 20000)).usage);
        const n = readings.length;
        const settled = n >= 2 && readings[n - 1] === readings[n - 2] && Date.now() - t0 > 2.5 * profile.tickMs;
        if (settled || n === 12) return { most: Math.max(...readings), settled: readings[n - 1] };
      }
    } finally {
      await con.close();
    }
  }
}

/** A board's broker.conf in a folder of its own: its listener, anonymous clients, then `lines` (a bridge). */
function boardConf(tag: string, lines: string[]): { dir: string; conf: string } {
  const dir = tmpDir(tag);
  const conf = path.join(dir, "broker.conf");
  fs.writeFileSync(conf, ["listener 1883", "allow_anonymous true", ...lines, ""].join("\n"));
  return { dir, conf };
}

test("outage with mosquitto as the upstream and a power cut of the board: 100/100, in order, inside the memory budget", async () => {
  if (!haveMosquitto()) throw new Error("needs Debian's mosquitto: apt-get install mosquitto");
  let board: BoardBroker | undefined;
  const log = (s: string) => console.log("  " + s);
  const r = await outageScenario(mosquittoUpstream, log, {
    name: "the board (Espruino interpreter)",
    port: BOARD_PORT,
    deliverMs: 90000,
    local: (conf, _port, dir) => {
      board = new BoardBroker(conf, path.join(dir, "board"), log);
      return board;
    },
    whileQueued: async (n) => {
      const used = await board!.used();
      board!.memory[n] = used;
      log(`board with the bridge ${n === 0 ? "connected, nothing queued" : n < 0 ? "down, rebooted, " + -n + " messages restored" : "down, " + n + " messages queued"}: ${used.most} JsVars (${used.settled} settled)`);
    },
  });
  assert.is(r.sent, 100);
  assert.is(r.distinct, 100, "every message the board acknowledged reached the upstream");
  assert.ok(r.inOrder, "in order");
  const m = board!.memory;
  const half = Math.floor((profile.maxBridgeQueued ?? 0) / 2);
  assert.is(half, 32, "the profile's queue is 64: half is 32");
  // the budget of an idle board plus the bridge's link, and of a loaded one with its queue half full
  assert.ok(m[0].most <= profile.memoryBudget, `bridge connected: ${m[0].most} JsVars, profile budget ${profile.memoryBudget}`);
  assert.ok(m[32].most <= 2800, `queue half full (32): ${m[32].most} JsVars, loaded budget 2,800`);
  assert.ok(m[50].most <= profile.memoryBudget, `50 queued: ${m[50].most} JsVars, profile budget ${profile.memoryBudget}`);
  // a queued message is one string and a number (bridge.ts): as an object of eight fields it was 15
  const each = (m[50].settled - m[16].settled) / 34;
  log(`a queued message costs ${each.toFixed(1)} JsVars`);
  assert.ok(each <= 8, `${each.toFixed(1)} JsVars a queued message`);
});

/**
 * A path between the board and the remote that can go silent without closing, as a TCP link does
 * when the Wi-Fi under it goes: bytes stop both ways, new connections are taken and answered never.
 */
class SilentPath {
  server: net.Server;
  pairs: net.Socket[][] = [];
  silent = false;
  /** Connections taken while silent: the bridge's tries to reconnect. */
  held = 0;
  constructor(public to: number) {
    this.server = net.createServer((inbound) => {
      const out = net.connect(this.to, "127.0.0.1");
      const pair = [inbound, out];
      if (this.silent) this.held++;
      this.pairs.push(pair);
      inbound.on("data", (d) => !this.silent && out.write(d));
      out.on("data", (d) => !this.silent && inbound.write(d));
      // the board's end closes the remote's; the remote's reaches the board only while the path
      // passes bytes (a silent one keeps the board's socket open, so only its keepalive can tell)
      inbound.on("error", () => out.destroy()).on("close", () => out.destroy());
      out.on("error", () => !this.silent && inbound.destroy()).on("close", () => !this.silent && inbound.destroy());
    });
  }
  listen(port: number): Promise<void> {
    return new Promise((r) => this.server.listen(port, "127.0.0.1", () => r()));
  }
  close(): void {
    for (const p of this.pairs) for (const s of p) s.destroy();
    this.server.close();
  }
}

test("the `in` direction with prefixes; Wi-Fi gone (the link silent, not closed): the bridge drops it at its keepalive, and reconnects once the path is back", async () => {
  if (!haveMosquitto()) throw new Error("needs Debian's mosquitto: apt-get install mosquitto");
  const log = (s: string) => console.log("  " + s);
  const upPort = await freePort();
  const up = await mosquittoUpstream(upPort);
  const pathPort = await freePort();
  const silent = new SilentPath(upPort);
  await silent.listen(pathPort);
  const { dir, conf } = boardConf("wifi", ["connection wifi", "address 127.0.0.1:" + pathPort,
    "topic sensor/# out 1", "topic cmd/# in 1 board/ house/", "restart_timeout 1", "keepalive_interval 5"]);
  const board = new BoardBroker(conf, path.join(dir, "board"), log);
  let watch: Awaited<ReturnType<typeof client>> | undefined;
  let pub: Awaited<ReturnType<typeof client>> | undefined;
  try {
    watch = await client(upPort, { clientId: "watch" }, { "$SYS/broker/connection/wifi/state": 1, "sensor/#": 1 });
    await board.start();
    await until(() => watch!.got.some((m) => m.payload === "1"), "the bridge to connect", 30000);
    pub = await client(BOARD_PORT, { clientId: "pub", reconnectPeriod: 0 }, { "board/#": 1 });
    await pub.client.publishAsync("sensor/a", "before", { qos: 1 });
    await until(() => watch!.got.some((m) => m.payload === "before"), "a message across");
    // the `in` direction, with prefixes: house/cmd/vent there is board/cmd/vent here
    await watch.client.publishAsync("house/cmd/vent", "open", { qos: 1 });
    await until(() => pub!.got.some((m) => m.topic === "board/cmd/vent" && m.payload === "open"), "a message in from the remote");
    watch.got.length = 0;
    const t0 = Date.now();
    silent.silent = true;
    // the remote sees its will (our 0) once its own keepalive for us runs out; we see the loss at ours
    await until(() => watch!.got.some((m) => m.payload === "0"), "the remote to see the bridge gone", 40000);
    await pub.client.publishAsync("sensor/a", "during", { qos: 1 });
    await sleep(12000); // past the board's keepalive and a connect timeout: it has dropped and is retrying
    const lostAfter = Date.now() - t0;
    assert.ok(silent.held >= 1, "the board gave the silent link up and tried again: " + silent.held + " connections taken while silent");
    silent.silent = false;
    const t1 = Date.now();
    await until(() => watch!.got.some((m) => m.payload === "during"), "the message held over the silence", 60000);
    log(`link silent for ${(lostAfter / 1000).toFixed(1)} s (the board tried ${silent.held} new connections meanwhile); back: the bridge reconnected and delivered what it held in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    assert.ok(watch.got.some((m) => m.payload === "1"), "connected again");
  } finally {
    await closeClient(pub);
    await closeClient(watch);
    await board.kill();
    silent.close();
    await up.close();
  }
});

test("a loaded board with the bridge: 7 clients (a socket went to the link), 28 subscriptions, 16 retained, then its queue half full and full, inside the profile's budget", async () => {
  if (!haveMosquitto()) throw new Error("needs Debian's mosquitto: apt-get install mosquitto");
  const log = (s: string) => console.log("  " + s);
  const upPort = await freePort();
  const up = await mosquittoUpstream(upPort);
  const { dir, conf } = boardConf("loaded", ["persistence true", "connection up", "address 127.0.0.1:" + upPort,
    "topic sensor/# out 1", "restart_timeout 1", "keepalive_interval 5"]);
  const board = new BoardBroker(conf, path.join(dir, "board"), log);
  const clients: Awaited<ReturnType<typeof client>>[] = [];
  let upStopped = false;
  try {
    await board.start();
    const watch = await client(upPort, { clientId: "watch" }, { "$SYS/broker/connection/up/state": 1 });
    await until(() => watch.got.some((m) => m.payload === "1"), "the bridge to connect", 30000);
    await closeClient(watch);
    const clientsMax = profile.maxClientsWithBridge ?? profile.maxClients;
    assert.is(clientsMax, 7);
    for (let i = 0; i < clientsMax; i++) clients.push(await client(BOARD_PORT, { clientId: "c" + i, reconnectPeriod: 0, connectTimeout: 20000 }));
    let refused = 0;
    for (let i = 0; i < clientsMax; i++) {
      for (const f of [`home/room${i}/+`, `sensors/${i}/#`, `alerts/${i}`, `cmd/${i}/set`]) await clients[i].client.subscribeAsync(f, { qos: 1 }).catch(() => refused++);
    }
    for (let r = 0; r < 16; r++) await clients[r % clientsMax].client.publishAsync(`state/dev${r}`, "x".repeat(32), { qos: 1, retain: true });
    const loaded = (await board.used()).most;
    await up.stop();
    upStopped = true;
    await sleep(1500);
    const half = (profile.maxBridgeQueued ?? 0) / 2;
    for (let i = 0; i < half; i++) await clients[0].client.publishAsync("sensor/a", "m" + i, { qos: 1 });
    const halfFull = (await board.used()).most;
    for (let i = half; i < 2 * half; i++) await clients[0].client.publishAsync("sensor/a", "m" + i, { qos: 1 });
    const full = (await board.used()).most;
    log(`loaded board with the bridge: ${clientsMax} clients, ${28 - refused} subscriptions, 16 retained: ${loaded} JsVars; ` +
      `upstream down, ${half} queued: ${halfFull}; ${2 * half} queued: ${full} (profile budget ${profile.memoryBudget}, of 4,000)`);
    assert.is(refused, 0, "every subscription granted");
    assert.ok(halfFull <= profile.memoryBudget, `half full: ${halfFull} JsVars`);
    assert.ok(full <= profile.memoryBudget, `full: ${full} JsVars`);
  } finally {
    for (const c of clients) await closeClient(c);
    await board.kill();
    if (!upStopped) await up.stop();
    await up.close();
  }
});

/**
 * A stand-in for Espruino's ESP32 Wifi module, installed as .boot0 (which Espruino runs before
 * .bootcde), since the Linux build has none: connect() calls back and emits 'connected' while
 * global.wifiDown is false; while it is true, a try never calls back and 'disconnected' follows,
 * as the ESP32 build does once its own retries are spent (libs/network/esp32/jswrap_esp32_network.c).
 */
const FAKE_WIFI = 'global.wifiDown=false;global.wifiTries=0;Modules.addCached("Wifi",function(){' +
  'exports.setHostname=function(){};exports.getIP=function(cb){var r={ip:"127.0.0.1"};if(cb)cb(null,r);return r;};' +
  'exports.connect=function(ssid,o,cb){global.wifiTries++;setTimeout(function(){' +
  'if(global.wifiDown){exports.emit("disconnected",{reason:"201"});return;}' +
  'cb(null);exports.emit("connected",{ip:"127.0.0.1"});},100);};});';

test("Wi-Fi lost on the board (its Wifi module's events): the bridge drops its link at once, Wi-Fi is tried again with backoff, and once it is back the bridge connects without waiting out its 30 s restart_timeout", async () => {
  if (!haveMosquitto()) throw new Error("needs Debian's mosquitto: apt-get install mosquitto");
  const log = (s: string) => console.log("  " + s);
  const upPort = await freePort();
  const up = await mosquittoUpstream(upPort);
  const { dir, conf } = boardConf("wifi-events", ["connection house", "address 127.0.0.1:" + upPort,
    "topic sensor/# out 1", "restart_timeout 30", "keepalive_interval 60"]);
  const boardDir = path.join(dir, "board");
  fs.mkdirSync(boardDir, { recursive: true });
  const board = await startBoard("telnet", boardDir);
  let watch: Awaited<ReturnType<typeof client>> | undefined;
  let con: EspruinoConsole | undefined;
  try {
    const pre = new EspruinoConsole(await openLink(CONSOLE));
    await pre.exec(`require("Storage").write(".boot0", ${JSON.stringify(FAKE_WIFI)})`);
    await pre.close();
    watch = await client(upPort, { clientId: "watch" }, { "$SYS/broker/connection/house/state": 1 });
    await flash({ port: CONSOLE, board: "espruino-linux", config: conf, wifi: "house", wifiPassword: "secret", out: () => {} });
    await until(() => watch!.got.some((m) => m.payload === "1"), "the bridge to connect", 30000);
    con = new EspruinoConsole(await openLink(CONSOLE));
    const tries = async () => await con!.evalJson<number>("global.wifiTries");
    const before = await tries();
    watch.got.length = 0;
    const t0 = Date.now();
    await con.exec('global.wifiDown=true;require("Wifi").emit("disconnected",{reason:"200"})');
    // the link is dropped by the board (not at its 60 s keepalive): the remote publishes the bridge's will
    await until(() => watch!.got.some((m) => m.payload === "0"), "the remote to see the link gone", 10000);
    const droppedMs = Date.now() - t0;
    await sleep(8000);
    const triedWhileDown = (await tries()) - before;
    await con.exec("global.wifiDown=false");
    const t1 = Date.now();
    await until(() => watch!.got.some((m) => m.payload === "1"), "the bridge back once Wi-Fi is", 20000);
    const backMs = Date.now() - t1;
    log(`Wi-Fi lost: link dropped in ${droppedMs} ms (keepalive 60 s); ${triedWhileDown} Wi-Fi tries in 8 s while it was down (backoff 1, 2, 4 s...); ` +
      `Wi-Fi back: bridge connected in ${(backMs / 1000).toFixed(1)} s (restart_timeout 30 s)`);
    assert.ok(droppedMs < 5000, `dropped after ${droppedMs} ms`);
    assert.ok(triedWhileDown >= 2 && triedWhileDown <= 5, `${triedWhileDown} Wi-Fi tries in 8 s: backoff from 1 s`);
    assert.ok(backMs < 15000, `back after ${backMs} ms, not after the 30 s restart_timeout`);
  } finally {
    if (con !== undefined) await con.close();
    await closeClient(watch);
    await board.kill();
    await up.close();
  }
});

test.run();
