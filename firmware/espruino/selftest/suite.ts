/**
 * The on-device test suite (`npm run device-test`): the core's codec, topic
 * and broker vectors run on the board itself, with a transport that records
 * bytes instead of a network. Prints one line per test ("ok N name" or
 * "not ok N name: why") and a summary line the host reads back.
 */
import { Broker } from "../../core/broker/broker";
import { BrokerConfig } from "../../core/config";
import { encodeConnect, encodePublishString, encodeSubscribe, remainingLengthSize, writeRemainingLength } from "../../core/codec/encode";
import { validUtf8 } from "../../core/codec/utf8";
import { PacketReader, PacketSink } from "../../core/codec/reader";
import { Bytes, Transport } from "../../core/platform";
import { filterMatchesString, matching } from "../../core/topics/match";
import { validTopicFilter } from "../../core/topics/validate";
import { flashJournal } from "../journal";

/**
 * Storage file with the limits the flashed broker was built with (firmware/espruino/tools/flash.ts writes it): its
 * mqtt.json has none, and this suite, built without them, reads them from here (selftest/run.ts).
 */
export const LIMITS_FILE = "mqtt.lim";

declare function print(...args: any[]): void;
declare const process: any;
declare const global: any;

let passed = 0;
let failed = 0;
let n = 0;

function check(name: string, ok: boolean, why: string): void {
  n++;
  if (ok) {
    passed++;
    print("ok " + n + " " + name);
  } else {
    failed++;
    print("not ok " + n + " " + name + ": " + why);
  }
}

function bytesOf(s: string): Uint8Array {
  const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
  return u;
}

function hex(buf: Bytes, off: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) {
    const b = buf[off + i];
    s += (b < 16 ? "0" : "") + b.toString(16);
  }
  return s;
}

class Recorder implements Transport {
  out: { [key: string]: string } = {};
  closedIds: { [key: string]: boolean } = {};
  send(id: number, buf: Bytes, off: number, len: number): boolean {
    const k = "c" + id;
    this.out[k] = (this.out[k] === undefined ? "" : this.out[k]) + hex(buf, off, len);
    return true;
  }
  close(id: number): void {
    this.closedIds["c" + id] = true;
  }
  queued(id: number): number {
    return 0;
  }
  take(id: number): string {
    const v = this.out["c" + id];
    this.out["c" + id] = "";
    return v === undefined ? "" : v;
  }
}

class Collect implements PacketSink {
  packets: string[] = [];
  onPacket(first: number, buf: Bytes, off: number, len: number): number {
    this.packets.push(first.toString(16) + ":" + hex(buf, off, len));
    return 0;
  }
}

function codecTests(): void {
  const sizes = [0, 127, 128, 16383, 16384, 2097151, 2097152, 268435455];
  for (let i = 0; i < sizes.length; i++) {
    const out = new Uint8Array(4);
    const k = writeRemainingLength(out, 0, sizes[i]);
    let v = 0;
    let m = 1;
    for (let j = 0; j < k; j++) {
      v += (out[j] % 128) * m;
      m *= 128;
    }
    check("remaining length " + sizes[i], k === remainingLengthSize(sizes[i]) && v === sizes[i], "got " + v + " in " + k + " bytes");
  }
  // one stream of three packets, fed one byte at a time
  const buf = new Uint8Array(64);
  let len = encodePublishString(buf, 0, "a/b", "hi", 1, false, false, 7);
  len += encodePublishString(buf, len, "c", "", 0, true, false, 0);
  buf[len++] = 0xc0;
  buf[len++] = 0;
  const reader = new PacketReader({ bytes: (size: number) => new Uint8Array(size) }, 1024, 16, 16);
  const sink = new Collect();
  let err = 0;
  for (let i = 0; i < len && err === 0; i++) err = reader.feed(buf, i, 1, sink);
  check("reader: split at every byte", err === 0 && sink.packets.length === 3 &&
    sink.packets[0] === "32:0003612f62000768" + "69" && sink.packets[2] === "c0:", JSON.stringify(sink.packets));
  const big = new Uint8Array([0x30, 0xff, 0xff, 0x7f]);
  check("reader: over the packet limit is refused", new PacketReader({ bytes: (size: number) => new Uint8Array(size) }, 1024, 16, 16).feed(big, 0, 4, sink) !== 0, "accepted");
  check("utf8: 4-byte sequence", validUtf8(bytesOf("A\xf0\xaa\x9b\x94"), 0, 5), "refused");
  check("utf8: surrogate refused", !validUtf8(bytesOf("\xed\xa0\x80"), 0, 3), "accepted");
  check("utf8: U+0000 refused", !validUtf8(bytesOf("a\x00"), 0, 2), "accepted");
}

function topicTests(): void {
  const cases: [string, string, boolean][] = [
    ["a/+", "a/b", true], ["a/+", "a/b/c", false], ["a/#", "a", true], ["#", "$SYS/x", false],
    ["+/x", "$SYS/x", false], ["$SYS/#", "$SYS/broker/uptime", true], ["+/+", "/x", true], ["a/b", "a/b/", false],
  ];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    check("match " + c[0] + " " + c[1], filterMatchesString(c[0], c[1]) === c[2], "wrong");
  }
  // the installed matcher (native on the board) against the core's loop, every pair
  const filters = ["#", "+", "a/#", "a/+", "+/+", "+/#", "a/+/c", "a/+/#", "$SYS/#", "+/x", "a/b", "a-b/+", "a.b/+",
    "a/+/+/#", "/+", "+/", "a/b/#", "x"];
  const topics = ["a", "a/b", "a/b/c", "a/", "/x", "$SYS/x", "a-b/c", "a.b/c", "axb/c", "x", "/", "a//c", "a/b/c/d", "a/x/c"];
  let wrong = "";
  for (let f = 0; f < filters.length; f++) {
    for (let t = 0; t < topics.length; t++) {
      const b = bytesOf(topics[t]);
      if (matching.bytes(filters[f], b, 0, topics[t].length) !== filterMatchesString(filters[f], topics[t])) wrong += " " + filters[f] + "~" + topics[t];
    }
  }
  check("matcher agrees with the loop on " + filters.length * topics.length + " pairs", wrong === "", wrong);
  check("filter a/#/b invalid", !validTopicFilter("a/#/b"), "accepted");
  check("filter a/+/b valid", validTopicFilter("a/+/b"), "refused");
}

function brokerTests(config: BrokerConfig): void {
  const t = new Recorder();
  let now = 0;
  const b = new Broker(config, {
    alloc: { bytes: (size: number) => new Uint8Array(size) },
    hashes: { sha256: (s: string) => s },
    now: () => now,
    random: (m: number) => 0,
    log: (line: string) => {},
  }, t);
  const buf = new Uint8Array(128);
  const opts = {
    protocolName: "MQTT", protocolLevel: 4, clientId: "sub", cleanSession: true, keepalive: 10,
    username: undefined, password: undefined, willTopic: undefined, willMessage: undefined, willQos: 0, willRetain: false,
  };
  const sub = b.accept("127.0.0.1");
  b.data(sub, buf, 0, encodeConnect(buf, 0, opts));
  check("CONNACK accepted", t.take(sub) === "20020000", "no CONNACK");
  b.data(sub, buf, 0, encodeSubscribe(buf, 0, 1, ["s/+"], [1]));
  check("SUBACK granted 1", t.take(sub) === "9003000101", "bad SUBACK");
  opts.clientId = "pub";
  opts.willTopic = "s/will" as any;
  opts.willMessage = "gone" as any;
  const pub = b.accept("127.0.0.1");
  b.data(pub, buf, 0, encodeConnect(buf, 0, opts));
  t.take(pub);
  b.data(pub, buf, 0, encodePublishString(buf, 0, "s/t", "21", 1, false, false, 5));
  check("PUBACK to publisher", t.take(pub) === "40020005", "no PUBACK");
  const dq = t.take(sub);
  check("QoS 1 delivered", dq === "32090003732f74000132" + "31", "not delivered: " + dq);
  now = 16000; // past 1.5 x keepalive for both: the publisher's will goes out
  b.tick();
  check("will on keepalive expiry", t.closedIds["c" + pub] === true && t.take(sub).indexOf("732f77696c6c") >= 0, "no will");
}

/** The bridge's journal in this board's flash (journal.ts): records with 0xFE/0xFF, rewrites, a torn rewrite, a full file. */
function journalTests(): void {
  const st = global.require("Storage");
  const name = "mqtt.tj";
  const clean = () => {
    st.erase(name + "a");
    st.erase(name + "b");
  };
  clean();
  const recs = ["A\x00\xff\xfe1", "B\xfe\x01\x02", "C\xff\xff"];
  let j = flashJournal(st, 256);
  let ok = true;
  for (let i = 0; i < recs.length; i++) ok = j.append!(name, recs[i]) && ok;
  check("journal: appends read back after a reboot, 0xFE/0xFF kept", ok && flashJournal(st, 256).read(name) === recs.join(""),
    JSON.stringify(flashJournal(st, 256).read(name)));
  j = flashJournal(st, 256);
  ok = j.write(name, "R1") && j.append!(name, "+2");
  check("journal: a rewrite goes to the other file, the old one erased", ok && flashJournal(st, 256).read(name) === "R1+2" &&
    st.read(name + "a") === undefined && st.read(name + "b") !== undefined, JSON.stringify(st.list(/mqtt\.tj/)));
  // a rewrite cut by a power cut: made ("J") but never marked whole
  st.write(name + "a", "J", 0, 256);
  st.write(name + "a", "lost", 2);
  check("journal: a torn rewrite is ignored and erased, the old file read", flashJournal(st, 256).read(name) === "R1+2" &&
    st.read(name + "a") === undefined, JSON.stringify(st.list(/mqtt\.tj/)));
  // cut between marking the new one whole and erasing the old: either holds every message owed
  st.write(name + "a", "JWR1", 0, 256);
  const both = flashJournal(st, 256).read(name);
  check("journal: of two whole files one is read, the other erased", (both === "R1" || both === "R1+2") &&
    st.list(/mqtt\.tj/).length === 1, JSON.stringify(st.list(/mqtt\.tj/)));
  clean();
  j = flashJournal(st, 16);
  let all = "";
  ok = true;
  for (let k = 0; k < 8; k++) {
    ok = j.append!(name, "rec" + k) && ok;
    all += "rec" + k;
  }
  check("journal: an append past the file's size rewrites it, nothing lost", ok && flashJournal(st, 16).read(name) === all,
    JSON.stringify(flashJournal(st, 16).read(name)));
  j.erase(name);
  check("journal: erased", flashJournal(st, 16).read(name) === undefined && st.list(/mqtt\.tj/).length === 0, JSON.stringify(st.list(/mqtt\.tj/)));
}

/** Run every suite; prints "# passed P failed F" last. */
export function runSelfTest(config: BrokerConfig): void {
  const before = process.memory().usage;
  codecTests();
  topicTests();
  brokerTests(config);
  journalTests();
  print("# memory " + before + " -> " + process.memory().usage + " JsVars");
  print("# passed " + passed + " failed " + failed);
}

global.selftest = runSelfTest;
