/**
 * The bridge's core without a network: restart_timeout's backoff on the
 * broker's tick, the queue's bounds, the journal (torn tails, compaction).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { Broker } from "../../firmware/core/broker/broker";
import { Bridge, bridgeCount, bridgeMessages, bridgesNetwork, journalAdd, journalDone, readJournal, startBridges, tickBridge } from "../../firmware/core/bridge/bridge";
import { BRIDGE_OUT, BridgeConfig } from "../../firmware/core/bridge/types";
import { BoardProfile } from "../../firmware/core/profile";
import { Link, LinkEvents, Storage } from "../../firmware/core/platform";
import { defaultConfig } from "../../host-sim/config";
import { nodePlatform } from "../../host-sim/platform";

const BOARDS = path.join(__dirname, "..", "..", "boards");
const esp32 = JSON.parse(readFileSync(path.join(BOARDS, "esp32.json"), "utf8")) as BoardProfile;

function bridgeCfg(over: Partial<BridgeConfig> = {}): BridgeConfig {
  return {
    name: "b", addresses: [{ host: "127.0.0.1", port: 1 }], clientId: "b", cleanSession: false, keepalive: 60,
    restartBaseMs: 5000, restartCapMs: 30000, username: undefined, password: undefined, notifications: true,
    notificationTopic: "$SYS/broker/connection/b/state", tryPrivate: true,
    topics: [{ pattern: "#", direction: BRIDGE_OUT, qos: 1, localPrefix: "", remotePrefix: "" }], ...over,
  };
}

interface Rig {
  broker: Broker;
  bridge: Bridge;
  clock: { now: number };
  opens: number[];
  files: { [k: string]: string };
  /** The fake remote: what the bridge wrote, and a way to answer. */
  link: { sent: number[]; events: LinkEvents | undefined };
}

/** A broker on no network with a fake clock, a connect that fails or hands back a fake link, and a memory Storage with append. */
function rig(cfg: BridgeConfig, profile: BoardProfile = esp32, opts: { connects?: boolean; persistence?: boolean; files?: { [k: string]: string } } = {}): Rig {
  const clock = { now: 1000 };
  const opens: number[] = [];
  const files: { [k: string]: string } = opts.files ?? {};
  const link: Rig["link"] = { sent: [], events: undefined };
  const config = defaultConfig(profile);
  config.bridges = [cfg];
  config.persistence = opts.persistence === true;
  const platform = nodePlatform(() => {}, () => clock.now);
  const storage: Storage = {
    read: (n) => files[n],
    write: (n, d) => {
      files[n] = d;
      return true;
    },
    erase: (n) => {
      delete files[n];
    },
    append: (n, d) => {
      files[n] = (files[n] ?? "") + d;
      return true;
    },
  };
  platform.storage = storage;
  platform.connect = (_h: string, _p: number, _n: string, events: LinkEvents): Link | undefined => {
    opens.push(clock.now);
    if (opts.connects !== true) return undefined;
    link.events = events;
    return {
      send: (buf, off, len) => {
        for (let i = 0; i < len; i++) link.sent.push(buf[off + i]);
        return true;
      },
      close: () => {},
      queued: () => 0,
    };
  };
  const broker = new Broker(config, platform, { send: () => true, close: () => {}, queued: () => 0 });
  const bridge = startBridges(broker)[0];
  return { broker, bridge, clock, opens, files, link };
}

/** Advance the fake clock tick by tick, ticking the bridge as the broker's timer would. */
function run(r: Rig, ms: number, tick = 100): void {
  for (let t = 0; t < ms; t += tick) {
    r.clock.now += tick;
    tickBridge(r.bridge);
  }
}

test("restart_timeout BASE CAP: decorrelated jitter between base and 3x the last wait, capped, on the broker's tick", () => {
  const r = rig(bridgeCfg({ restartBaseMs: 2000, restartCapMs: 20000 }));
  run(r, 120000);
  const waits = r.opens.slice(1).map((t, i) => t - r.opens[i]);
  assert.ok(waits.length >= 6, "it kept trying: " + waits.length);
  let prev = 2000;
  for (const w of waits) {
    assert.ok(w >= 2000 && w <= 20000 + 100, "within base and cap: " + w);
    assert.ok(w <= Math.max(2000, prev * 3) + 100, "at most 3x the last: " + w + " after " + prev);
    prev = w;
  }
  assert.ok(waits.some((w) => w !== waits[0]), "jittered: " + waits.join(","));
});

test("restart_timeout N: a constant wait", () => {
  const r = rig(bridgeCfg({ restartBaseMs: 3000, restartCapMs: 0 }));
  run(r, 20000);
  const waits = r.opens.slice(1).map((t, i) => t - r.opens[i]);
  assert.ok(waits.length >= 5);
  for (const w of waits) assert.ok(w >= 3000 && w <= 3100, "constant: " + w);
});

/** Hand the bridge a local message as routePublish would. */
function local(r: Rig, topic: string, payload: string, qos: number): void {
  const buf = new Uint8Array(topic.length + payload.length);
  for (let i = 0; i < topic.length; i++) buf[i] = topic.charCodeAt(i);
  for (let j = 0; j < payload.length; j++) buf[topic.length + j] = payload.charCodeAt(j);
  r.broker.bridgeRetain = false;
  (r.broker.bridgeOut as NonNullable<Broker["bridgeOut"]>)(r.broker, buf, 0, topic.length, topic.length, payload.length, qos);
}

test("bounded queue while the remote is away: QoS 0 not kept (as mosquitto), QoS 1 up to maxBridgeQueued, then dropped and counted", () => {
  const profile = { ...esp32, maxBridgeQueued: 5, maxBridgeQueuedBytes: 1000 };
  const r = rig(bridgeCfg(), profile);
  local(r, "a", "zero", 0);
  for (let i = 0; i < 8; i++) local(r, "a", "m" + i, 1);
  assert.is(bridgeCount(r.bridge), 5);
  assert.is(r.bridge.stats.dropped, 1 + 3);
  assert.equal(bridgeMessages(r.bridge).map((m) => m.payload), ["m0", "m1", "m2", "m3", "m4"]);
});

test("bounded queue by bytes: maxBridgeQueuedBytes counts topic and payload", () => {
  const profile = { ...esp32, maxBridgeQueued: 100, maxBridgeQueuedBytes: 30 };
  const r = rig(bridgeCfg(), profile);
  for (let i = 0; i < 5; i++) local(r, "t", "123456789", 1); // 10 bytes each
  assert.is(bridgeCount(r.bridge), 3);
  assert.is(r.bridge.bytes, 30);
});

/** Bring the rig's bridge up: the link opens, the fake remote answers CONNACK 0. */
function connectUp(r: Rig): void {
  run(r, 100);
  const ev = r.link.events as LinkEvents;
  ev.opened();
  ev.data(new Uint8Array([0x20, 2, 0, 0]), 0, 4);
}

test("bounded queue when connected behind the window: the oldest QoS 0 goes first", () => {
  const profile = { ...esp32, maxInflight: 1, maxBridgeQueued: 3, maxBridgeQueuedBytes: 1000 };
  const r = rig(bridgeCfg(), profile, { connects: true });
  connectUp(r);
  assert.is(r.bridge.state, 3);
  local(r, "a", "q1", 1); // in flight
  local(r, "a", "z1", 0);
  local(r, "a", "z2", 0);
  local(r, "a", "q2", 1); // full: z1 goes
  assert.equal(bridgeMessages(r.bridge).map((m) => m.payload), ["q1", "z2", "q2"]);
  local(r, "a", "q3", 1); // z2 goes
  local(r, "a", "q4", 1); // none left to drop: q4 dropped
  assert.equal(bridgeMessages(r.bridge).map((m) => m.payload), ["q1", "q2", "q3"]);
  assert.is(r.bridge.stats.dropped, 3);
});

test("CONNECT: level 0x84 with try_private, the notification 0 as a retained QoS 1 will; 4 after a CONNACK 1", () => {
  const r = rig(bridgeCfg(), esp32, { connects: true });
  run(r, 100);
  (r.link.events as LinkEvents).opened();
  const c = r.link.sent;
  assert.is(c[0], 0x10);
  // fixed header (2), "MQTT" (6), level, flags
  assert.is(c[8], 0x84);
  const flags = c[9];
  assert.is(flags, 32 + 8 + 4, "will, QoS 1, retained; not clean");
  // a refusal with 1 (unknown protocol level): the next try is plain 4, as mosquitto
  (r.link.events as LinkEvents).data(new Uint8Array([0x20, 2, 0, 1]), 0, 4);
  while (r.opens.length < 2) run(r, 100);
  r.link.sent = [];
  (r.link.events as LinkEvents).opened();
  assert.is(r.link.sent[8], 4);
});

test("journal: durable QoS 1 records before the PUBACK, restored in order after a restart, a torn tail ignored", () => {
  const files: { [k: string]: string } = {};
  const r = rig(bridgeCfg(), esp32, { persistence: true, files });
  for (let i = 0; i < 4; i++) local(r, "j/t", "p" + i, 1);
  local(r, "j/t", "zero", 0);
  assert.ok(files["mqtt.bq0"].length > 0);
  // a power cut in the middle of a fifth record
  const fifth = journalAdd({ seq: 99, topic: "j/t", payload: "p4", qos: 1, retain: false, state: 0, dup: false, durable: true });
  files["mqtt.bq0"] += fifth.substring(0, fifth.length - 3);
  const again = rig(bridgeCfg(), esp32, { persistence: true, files });
  assert.equal(bridgeMessages(again.bridge).map((m) => m.payload), ["p0", "p1", "p2", "p3"]);
  assert.is(again.bridge.stats.restored, 4);
  assert.ok(bridgeMessages(again.bridge).every((m) => m.dup), "resent with DUP");
  assert.ok(again.bridge.nextSeq > 4, "sequence numbers go on");
  const j = readJournal(files["mqtt.bq0"]);
  assert.ok(j.complete, "rewritten whole at start");
});

test("journal: a D record per acknowledgement, erased once nothing is left", () => {
  const files: { [k: string]: string } = {};
  const r = rig(bridgeCfg(), esp32, { persistence: true, files, connects: true });
  connectUp(r);
  local(r, "j/t", "a", 1);
  local(r, "j/t", "b", 1);
  const pid = (m: { seq: number }) => m.seq % 65533 + 1;
  const [a, b] = bridgeMessages(r.bridge);
  (r.link.events as LinkEvents).data(new Uint8Array([0x40, 2, 0, pid(a)]), 0, 4);
  assert.equal(readJournal(files["mqtt.bq0"]).msgs.map((m) => m.payload), ["b"]);
  (r.link.events as LinkEvents).data(new Uint8Array([0x40, 2, 0, pid(b)]), 0, 4);
  assert.is(files["mqtt.bq0"], undefined, "erased");
  assert.is(r.bridge.stats.delivered, 2);
});

test("readJournal: D removes its A; damage stops the read", () => {
  const m = (seq: number, p: string) => journalAdd({ seq, topic: "t", payload: p, qos: 1, retain: true, state: 0, dup: false, durable: true });
  const data = m(1, "x") + m(2, "y") + journalDone(1) + m(3, "z");
  const all = readJournal(data);
  assert.equal(all.msgs.map((x) => x.payload), ["y", "z"]);
  assert.is(all.msgs[0].retain, true);
  const bad = data.substring(0, 5) + "?" + data.substring(6);
  assert.is(readJournal(bad).complete, false);
});


test("NodeMCU refuses a bridge at its connection line; an Espruino board takes one, without TLS, with a client socket fewer", () => {
  const fs = require("node:fs") as typeof import("node:fs");
  const os = require("node:os") as typeof import("node:os");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bridge-board-"));
  const { loadConfig, loadProfile, ConfigError } = require("../../host-sim/config") as typeof import("../../host-sim/config");
  const { refuseBoardBridges, boardBridges } = require("../../host-sim/bridge-host") as typeof import("../../host-sim/bridge-host");
  const load = (text: string, board = "esp32") => {
    const file = path.join(dir, "broker.conf");
    fs.writeFileSync(file, text);
    return { file, config: loadConfig(file, loadProfile(board)) };
  };
  const refused = (f: () => void, line: RegExp) => {
    try {
      f();
      assert.unreachable("refused");
    } catch (e) {
      assert.instance(e, ConfigError);
      assert.match((e as Error).message, line);
    }
  };
  const one = "listener 1883\nallow_anonymous true\nconnection up\naddress 192.168.1.2\ntopic # out 1\n";
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const n = load(one, "nodemcu-esp32");
  refused(() => refuseBoardBridges(n.config, "NodeMCU"), new RegExp("^" + esc(n.file) + ":3: connection up: bridges are not supported on NodeMCU"));

  const a = load(one);
  assert.is(a.config.profile.maxClients, 8);
  assert.match(boardBridges(a.config) ?? "", /bridge up to 192\.168\.1\.2:1883: its link takes a socket, so 7 clients/);
  assert.is(a.config.profile.maxClients, 7, "lwIP's 10 sockets: listener, console, the link, 7 clients");
  const c3 = load(one, "esp32c3");
  boardBridges(c3.config);
  assert.is(c3.config.profile.maxClients, 8, "no console on a C3: the link takes the spare socket");
  const two = load(one + "connection other\naddress 192.168.1.3\ntopic # out 1\n");
  refused(() => boardBridges(two.config), new RegExp("^" + esc(two.file) + ":6: connection other: a board runs one bridge"));
  fs.writeFileSync(path.join(dir, "ca.pem"), "x");
  const tls = load(one + "bridge_cafile " + path.join(dir, "ca.pem") + "\n");
  refused(() => boardBridges(tls.config), new RegExp("^" + esc(tls.file) + ":3: connection up: bridge_cafile: TLS to the remote does not fit on the board"));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the network lost (the board's Wi-Fi): the link goes now, not at its keepalive; back: the next tick connects, not the backoff", () => {
  const r = rig(bridgeCfg({ restartBaseMs: 30000, restartCapMs: 0 }), esp32, { connects: true });
  run(r, 200);
  r.link.events!.opened();
  // CONNACK
  r.link.events!.data(new Uint8Array([0x20, 2, 0, 0]), 0, 4);
  assert.is(r.bridge.state, 3);
  const opensBefore = r.opens.length;
  bridgesNetwork(r.broker, false);
  assert.is(r.bridge.state, 0, "dropped at once");
  run(r, 2000);
  assert.is(r.opens.length, opensBefore, "waits out its backoff (30 s) while the network is away");
  bridgesNetwork(r.broker, true);
  run(r, 200);
  assert.is(r.opens.length, opensBefore + 1, "connects at the next tick once the network is back");
});

test.run();
