/**
 * The NodeMCU build inside the reference Lua 5.1 and 5.3 interpreters
 * compiled to WebAssembly (lua-wasm-bindings, from npm: nothing to install),
 * with NodeMCU's modules simulated from the JavaScript side
 * (firmware/nodemcu/tools/nodemcu_vm.lua): no sockets, a clock the test moves.
 * - the differential vectors (test/lua/vectors.ts) agree with Node byte for byte;
 * - the mosquitto message-sequence corpus passes on the nodemcu-esp8266
 *   profile, whole writes and every write split into single bytes;
 * - the adapter meets NodeMCU's rules: sends of at most one segment and one
 *   at a time, a bounded send queue, the connection limit, the microsecond
 *   timer's wrap, the idle timeout, persistence in `file`, low heap;
 * - memory: idle, loaded and across 10,000 messages.
 * Needs `npm run build:lua` first (`npm test` runs it).
 */
import * as fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodePublishString, encodeSubscribe } from "../../firmware/core/codec/encode";
import { BrokerConfig } from "../../firmware/core/config";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { bytesToHex } from "../../host-sim/sim";
import { BROKER_51, VECTORS_51, VECTORS_53 } from "../../firmware/nodemcu/tools/build";
import { GOAL_IDLE_KB, GOAL_LOADED_KB, measureWasm } from "../../firmware/nodemcu/tools/memory";
import { run as runVectors } from "../lua/vectors";
import { brokerVm, LuaVm, startVmBroker, VmBroker, VmSocket } from "../../firmware/nodemcu/tools/lua-vm";
import { runCaseVm } from "../support/replay-lua";
import { connectBytes, DEVIATIONS, loadCases, publishBytes } from "../support/replay";

const VERSIONS = ["5.1", "5.3"] as const;

if (!fs.existsSync(BROKER_51) || !fs.existsSync(VECTORS_51)) {
  throw new Error("dist/lua is missing: run `npm run build:lua` first (npm test does)");
}

function config(board = "nodemcu-esp8266", edit: (c: BrokerConfig) => void = () => {}): BrokerConfig {
  const c = defaultConfig(loadProfile(board));
  c.listeners = [{ port: 1883, address: undefined }];
  edit(c);
  return c;
}

/** A client over the VM's net module: CONNECT sent, CONNACK checked. */
function client(b: VmBroker, id: string, keepalive = 60, step = 1460): VmSocket {
  const s = b.connect(step);
  const connect = connectBytes(id, 4);
  connect[connect.length - 4 - id.length] = Math.floor(keepalive / 256);
  connect[connect.length - 3 - id.length] = keepalive % 256;
  s.write(connect);
  b.advance(1);
  s.pull();
  const connack = bytesToHex(s.inbox.splice(0, 4));
  if (connack !== "20020000") throw new Error(`CONNACK ${connack} for ${id}`);
  return s;
}

function subscribe(b: VmBroker, s: VmSocket, filter: string, qos: number): void {
  const out = new Uint8Array(16 + filter.length);
  const n = encodeSubscribe(out, 0, 1, [filter], [qos]);
  s.write(out.subarray(0, n));
  b.advance(1);
  s.pull();
  const suback = bytesToHex(s.inbox.splice(0, 5));
  if (suback !== "900300010" + qos) throw new Error(`SUBACK ${suback}`);
}

const vms: { [v: string]: LuaVm } = {};
function vmFor(v: "5.1" | "5.3"): LuaVm {
  if (vms[v] === undefined) vms[v] = brokerVm(v);
  return vms[v];
}

test.after(() => {
  for (const v of Object.keys(vms)) vms[v].close();
});

// ---- differential: the same vectors on Node and on Lua ----

const nodeLines = runVectors({ bytes: (n: number) => new Uint8Array(n) });

for (const v of VERSIONS) {
  test(`Lua ${v}: codec and topic-table vectors agree with Node byte for byte (${nodeLines.length} lines)`, () => {
    const vm = vmFor(v);
    vm.load("VECTORS", v === "5.1" ? VECTORS_51 : VECTORS_53);
    // the adapter's own byte tables, as the broker uses them
    const lua = vm.run('return table.concat(VECTORS.run({ bytes = function(_, n) return MQTT.allocBytes(n) end }), "\\n")').split("\n");
    assert.ok(nodeLines.length > 1000, "the harness ran its vectors");
    const diffs: string[] = [];
    for (let i = 0; i < Math.max(lua.length, nodeLines.length) && diffs.length < 5; i++) {
      if (lua[i] !== nodeLines[i]) diffs.push(`line ${i}:\n  node: ${nodeLines[i]}\n  lua:  ${lua[i]}`);
    }
    assert.equal(diffs, []);
    assert.is(lua.length, nodeLines.length);
  });
}

// ---- the corpus ----

const cases = loadCases();

for (const v of VERSIONS) {
  test(`Lua ${v}: mosquitto message-sequence corpus on the nodemcu-esp8266 profile, whole and byte by byte`, () => {
    const vm = vmFor(v);
    const failed: string[] = [];
    for (const split of [false, true]) {
      for (const c of cases) {
        const r = runCaseVm(c, vm, config(), split);
        if (r !== undefined && DEVIATIONS[c.name] === undefined) failed.push(`${split ? "split " : ""}${c.file} | ${c.name}: ${r}`);
      }
    }
    console.log(`  Lua ${v} (WebAssembly) replay: ${cases.length * 2 - failed.length}/${cases.length * 2} passed (${cases.length} cases, whole and split)`);
    assert.equal(failed, []);
  });
}

// ---- NodeMCU's rules ----

for (const v of VERSIONS) {
  test(`Lua ${v}: a 4,000-byte message goes out in sends of at most 1460 bytes, one at a time, and arrives whole`, () => {
    const b = startVmBroker(vmFor(v), config("nodemcu-esp32"));
    try {
      const sub = client(b, "big-sub");
      subscribe(b, sub, "big", 1);
      const pub = client(b, "big-pub", 60, 1000);
      const payload = "x".repeat(3990) + "0123456789";
      pub.write(publishBytes("big", payload, 1, 7));
      b.advance(1);
      pub.pull();
      assert.is(bytesToHex(pub.inbox), "40020007", "PUBACK");
      sub.pull();
      const [sends, maxSend] = b.vm.run(`return vm.stats(${sub.id})`).split(" ").map(Number);
      assert.ok(maxSend <= 1460, `a send of ${maxSend} bytes`);
      assert.ok(sends >= 3, `${sends} sends for a 4 KB packet`);
      const got = Buffer.from(sub.inbox).toString("latin1");
      // header (1), remaining length (2), topic (2 + 3), packet id (2), payload
      assert.is(got.length, 1 + 2 + 2 + 3 + 2 + 4000);
      assert.ok(got.endsWith(payload), "the payload arrives intact");
    } finally {
      b.stop();
    }
  });

  test(`Lua ${v}: a peer that stops reading is disconnected once its send queue passes the bound; the others go on`, () => {
    const b = startVmBroker(vmFor(v), config());
    try {
      const slow = client(b, "slow");
      const other = client(b, "other");
      subscribe(b, other, "t", 0);
      b.vm.run(`vm.hold(${slow.id}, true)`);
      // 2,000 PINGREQs: their PINGRESPs pile up behind a send that never completes
      slow.write("c000".repeat(2000));
      b.advance(1);
      const open = b.vm.run(`return vm.stats(${slow.id})`).split(" ")[2];
      assert.is(open, "false", "the stalled connection was closed");
      const ping = client(b, "pinger");
      ping.write(publishBytes("t", "after", 0, 0));
      b.advance(1);
      other.pull();
      assert.ok(bytesToHex(other.inbox).endsWith(Buffer.from("after").toString("hex").toUpperCase()));
    } finally {
      b.stop();
    }
  });

  test(`Lua ${v}: 60 repeated '#' in one SUBSCRIBE to a peer that does not read: the retained set once, the connection kept`, () => {
    const b = startVmBroker(vmFor(v), config());
    try {
      const pub = client(b, "pub");
      const out = new Uint8Array(256);
      for (let i = 0; i < 8; i++) {
        const n = encodePublishString(out, 0, "r/" + i, "x".repeat(100), 0, true, false, 0);
        pub.write(out.subarray(0, n));
      }
      b.advance(1);
      const sub = client(b, "sub");
      b.vm.run(`vm.hold(${sub.id}, true)`);
      const sixty = new Uint8Array(512);
      const n = encodeSubscribe(sixty, 0, 7, new Array(60).fill("#"), new Array(60).fill(0));
      sub.write(sixty.subarray(0, n));
      b.advance(1);
      // the old way: the store sixty times (50 KB) behind a send that never completes: the link dropped
      assert.is(b.vm.run(`return vm.stats(${sub.id})`).split(" ")[2], "true", "still open");
      b.vm.run(`vm.hold(${sub.id}, false)`);
      for (let i = 0; i < 20; i++) {
        b.advance(10);
        sub.pull();
      }
      assert.is(sub.closed, false);
      const hex = bytesToHex(sub.inbox);
      // SUBACK, then each retained message once: 0x31 (PUBLISH, retain), 105 bytes, topic r/N
      assert.ok(hex.startsWith("903E0007"), "SUBACK first: " + hex.slice(0, 12));
      assert.is(hex.split("3169" + "0003722F").length - 1, 8, "eight retained messages");
    } finally {
      b.stop();
    }
  });

  test(`Lua ${v}: the net module refuses a sixth connection; the broker serves the five`, () => {
    const b = startVmBroker(vmFor(v), config());
    try {
      const five: VmSocket[] = [];
      for (let i = 0; i < 5; i++) five.push(client(b, "c" + i));
      assert.is(b.vm.run("return vm.connect(1883)"), "-1");
      five[0].write("c000");
      b.advance(1);
      five[0].pull();
      assert.is(bytesToHex(five[0].inbox), "D000");
    } finally {
      b.stop();
    }
  });

  test(`Lua ${v}: keepalive across the wrap of tmr.now() (microseconds modulo 2^31)`, () => {
    const vm = vmFor(v);
    vm.run("vm.clockUs = 2147483648 - 500000");
    const b = startVmBroker(vm, config());
    try {
      const s = client(b, "ka", 2);
      b.advance(1000);
      s.write("c000");
      b.advance(1);
      s.pull();
      assert.is(bytesToHex(s.inbox), "D000", "PINGRESP after the wrap");
      assert.is(s.closed, false);
      b.advance(2500);
      s.pull();
      assert.is(s.closed, false, "inside one and a half keepalives");
      b.advance(1500);
      s.pull();
      assert.is(s.closed, true, "closed after one and a half keepalives without a packet");
    } finally {
      b.stop();
      vm.run("vm.clockUs = 0");
    }
  });

  test(`Lua ${v}: an idle connection without keepalive outlives NodeMCU's 30-second server timeout`, () => {
    const b = startVmBroker(vmFor(v), config());
    try {
      const s = client(b, "quiet", 0);
      b.advance(10 * 60 * 1000);
      s.write("c000");
      b.advance(1);
      s.pull();
      assert.is(bytesToHex(s.inbox), "D000");
    } finally {
      b.stop();
    }
  });

  test(`Lua ${v}: persistence in NodeMCU's file module: the newest valid state file wins, a torn one is skipped`, () => {
    const vm = vmFor(v);
    vm.run("vm.files = {}");
    const cfg = config("nodemcu-esp8266", (c) => {
      c.persistence = true;
      c.profile.persistIntervalMs = 1000;
    });
    const retained = (topic: string, payload: string) => {
      const out = new Uint8Array(64);
      return out.subarray(0, encodePublishString(out, 0, topic, payload, 0, true, false, 0));
    };
    const stateFiles = () => vm.run(
      "local t = {} for k, v in pairs(vm.files) do if string.sub(k, 1, 7) == 'mqtt.st' then t[#t + 1] = k end end table.sort(t) return table.concat(t, ' ')",
    ).split(" ").filter((f) => f !== "");
    /** The retained messages a new subscriber gets from a broker booted on the files as they are. */
    const restored = (): string => {
      const b = startVmBroker(vm, cfg);
      const s = client(b, "s");
      subscribe(b, s, "keep/#", 0);
      s.pull();
      b.stop();
      return Buffer.from(s.inbox).toString("latin1");
    };
    let b = startVmBroker(vm, cfg);
    const pub = client(b, "p");
    pub.write(retained("keep/a", "first"));
    b.advance(1100);
    // the first state, kept aside as a power cut between writing the next file and removing it would leave it
    assert.equal(stateFiles().length, 1);
    const older = stateFiles()[0];
    vm.run(`OLDER = vm.files["${older}"]`);
    assert.match(vm.run("return OLDER"), /^1:EMQ/);
    pub.write(retained("keep/b", "second"));
    b.advance(1100);
    b.stop();
    // the new file is written before the old one goes: one state file is left
    const files = stateFiles();
    assert.equal(files.length, 1, files.join(" "));
    assert.ok(files[0] !== older, "saves alternate between mqtt.st0 and mqtt.st1");
    let text = restored();
    assert.ok(text.includes("first") && text.includes("second"), "both retained messages restored");
    // both files there (the cut): the higher generation wins
    vm.run(`vm.files["${older}"] = OLDER`);
    text = restored();
    assert.ok(text.includes("first") && text.includes("second"), "the newer state won");
    // the newer one torn mid-write: its checksum fails and the older state comes back whole
    vm.run(`local v = vm.files["${files[0]}"]; vm.files["${files[0]}"] = string.sub(v, 1, #v - 3)`);
    vm.run(`vm.files["${older}"] = OLDER`);
    text = restored();
    assert.ok(text.includes("first") && !text.includes("second"), "the older state, not half of the newer");
    // nothing valid: an empty broker
    vm.run(`for k, v in pairs(vm.files) do if string.sub(k, 1, 7) == "mqtt.st" then vm.files[k] = string.sub(v, 1, #v - 3) end end`);
    assert.is(restored(), "", "a torn state file restores nothing");
    vm.run("vm.files = {}; OLDER = nil");
  });

  test(`Lua ${v}: with the free heap under 4 KB a new client is refused (CONNACK 3)`, () => {
    const vm = vmFor(v);
    const b = startVmBroker(vm, config());
    try {
      vm.run("vm.heapBytes = 3000");
      const s = b.connect();
      s.write(connectBytes("starved", 4));
      b.advance(1);
      s.pull();
      assert.is(bytesToHex(s.inbox), "20020003");
    } finally {
      vm.run("vm.heapBytes = 40960");
      b.stop();
    }
  });
}

// ---- memory ----

for (const v of VERSIONS) {
  test(`Lua ${v}: heap under ${GOAL_IDLE_KB} KB idle and ${GOAL_LOADED_KB} KB loaded (5 clients x 4 subscriptions, 8 retained), no growth over 10,000 messages`, () => {
    const r = measureWasm(v);
    console.log(`  Lua ${v} (WebAssembly, 32-bit) heap: idle ${r.idleKb} KB, loaded ${r.loadedKb} KB, after 10,000 messages ${r.after10000Kb} KB` +
      ` (samples ${r.samplesKb.join(", ")}), code ${r.codeKb} KB`);
    assert.is(r.clients, 5);
    assert.is(r.subscriptions, 20);
    assert.is(r.retained, 8);
    assert.ok(r.delivered >= 30000, `only ${r.delivered} deliveries`);
    assert.ok(r.idleKb < GOAL_IDLE_KB, `idle ${r.idleKb} KB`);
    assert.ok(r.loadedKb < GOAL_LOADED_KB, `loaded ${r.loadedKb} KB`);
    assert.is(r.samplesKb.length, 10);
    assert.ok(r.growthKb < 1.5, `grew ${r.growthKb} KB over 10,000 messages (samples ${r.samplesKb.join(", ")})`);
  });
}

test.run();
