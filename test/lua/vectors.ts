/**
 * The differential harness: codec and topic-table vectors run by the same
 * TypeScript on Node (tsx) and on Lua 5.1 / 5.3 (compiled by `npm run
 * build:lua` to .build/lua/vectors51.lua and vectors53.lua), each printing
 * one line per vector. test/unit/lua-wasm.test.ts requires the lines to be
 * identical byte for byte: encoded packets, decoded fields, framing under
 * every split, UTF-8 verdicts, topic validation, wildcard matching and the
 * subscription trie, number formatting included (a 5.3 float where JS has an
 * integer prints "3.0" and shows up here).
 *
 * Portable code only (it follows firmware/core/platform.ts's rules): no Node API,
 * no bitwise operators, integer arithmetic below 2^53 in the generator.
 */
import { filterCovers } from "../../firmware/core/auth/acl";
import { ERR_NONE } from "../../firmware/core/codec/constants";
import { Decoded, decodeFrame, decodePacket, frameLength } from "../../firmware/core/codec/decode";
import {
  encodeAck, encodeConnack, encodeConnect, encodeDisconnect, encodeEmpty, encodePingreq, encodePublish,
  encodePublishString, encodeSuback, encodeSubscribe, encodeUnsubscribe, publishSize, remainingLengthSize,
  writeRemainingLength,
} from "../../firmware/core/codec/encode";
import { PacketReader, PacketSink } from "../../firmware/core/codec/reader";
import { validUtf8 } from "../../firmware/core/codec/utf8";
import { Allocator, Bytes } from "../../firmware/core/platform";
import { filterMatchesBytes, filterMatchesString } from "../../firmware/core/topics/match";
import { Subscriber, TopicTable } from "../../firmware/core/topics/table";
import { text } from "../../firmware/core/codec/text";
import { countLevels, validTopicFilter, validTopicName } from "../../firmware/core/topics/validate";

const HEX = "0123456789abcdef";

function hex(buf: Bytes, off: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) {
    let b = buf[off + i];
    s += HEX.charAt(Math.floor(b / 16)) + HEX.charAt(b % 16);
  }
  return s;
}

function hexString(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    let b = s.charCodeAt(i);
    out += HEX.charAt(Math.floor(b / 16)) + HEX.charAt(b % 16);
  }
  return out;
}

/** Park-Miller: products stay below 2^45, exact in doubles and in 64-bit integers. */
class Rand {
  x: number;
  constructor(seed: number) {
    this.x = seed;
  }
  next(n: number): number {
    this.x = (this.x * 16807) % 2147483647;
    return this.x % n;
  }
}

function fromList(alloc: Allocator, list: number[]): Bytes {
  let b = alloc.bytes(list.length);
  for (let i = 0; i < list.length; i++) b[i] = list[i];
  return b;
}

function fromString(alloc: Allocator, s: string, pad: number): Bytes {
  let b = alloc.bytes(s.length + pad * 2);
  for (let i = 0; i < pad; i++) {
    b[i] = 255;
    b[pad + s.length + i] = 255;
  }
  text.put(s, b, pad);
  return b;
}

const FIELDS = [
  "type", "flags", "packetId", "qos", "dup", "retain", "topicOff", "topicLen", "payloadOff", "payloadLen",
  "protocolNameOff", "protocolNameLen", "protocolLevel", "connectFlags", "cleanSession", "keepalive",
  "clientIdOff", "clientIdLen", "willTopicOff", "willTopicLen", "willMessageOff", "willMessageLen", "willQos",
  "willRetain", "usernameOff", "usernameLen", "passwordOff", "passwordLen", "sessionPresent", "returnCode",
  "codesOff", "codesLen", "listOff", "listLen", "count",
];

function dump(d: Decoded): string {
  let s = "";
  let rec = d as unknown as { [k: string]: number | boolean };
  for (let i = 0; i < FIELDS.length; i++) s += (i > 0 ? "," : "") + rec[FIELDS[i]];
  return s;
}

function codec(alloc: Allocator, out: string[]): void {
  let buf = alloc.bytes(20000);
  let line = (name: string, n: number) => out.push("enc " + name + " " + n + " " + hex(buf, 0, n));
  let conn = (id: string, clean: boolean, ka: number, user: string | undefined, pass: string | undefined,
    will: string | undefined, msg: string | undefined, wq: number, wr: boolean, name: string, level: number) =>
    encodeConnect(buf, 0, {
      protocolName: name, protocolLevel: level, clientId: id, cleanSession: clean, keepalive: ka, username: user,
      password: pass, willTopic: will, willMessage: msg, willQos: wq, willRetain: wr,
    });
  line("connect-min31", conn("test", false, 30, undefined, undefined, undefined, undefined, 0, false, "MQIsdp", 3));
  line("connect-empty-id", conn("", true, 30, undefined, undefined, undefined, undefined, 0, false, "MQTT", 4));
  line("connect-max", conn("test", true, 30, "username", "password", "topic", "payload", 2, true, "MQIsdp", 3));
  // binary strings are built with fromCharCode: a literal "\u00c2" would be UTF-8 (two bytes) in Lua source
  let pound = String.fromCharCode(0xc2, 0xa3);
  line("connect-special", conn("te$t", false, 65535, "u$ern4me", "p4$$w0" + pound + "d", "t" + String.fromCharCode(0xc3, 0xb2) + "pic", "", 1, false, "MQTT", 4));
  line("connect-user-only", conn("x", true, 0, "", undefined, undefined, undefined, 0, false, "MQTT", 4));
  for (let sp = 0; sp < 2; sp++) for (let code = 0; code < 6; code++) line("connack " + sp + " " + code, encodeConnack(buf, 0, sp === 1, code));
  let ids = [1, 2, 127, 128, 255, 256, 4660, 65534, 65535];
  let types = [4, 5, 6, 7, 11];
  for (let t = 0; t < types.length; t++) {
    for (let k = 0; k < ids.length; k++) line("ack " + types[t] + " " + ids[k], encodeAck(buf, 0, types[t], types[t] === 6 ? 2 : 0, ids[k]));
  }
  line("unsuback", encodeAck(buf, 0, 11, 0, 4660));
  line("suback", encodeSuback(buf, 0, 6, [0, 1, 2, 128], 4));
  line("suback-one", encodeSuback(buf, 0, 65535, [128], 1));
  line("pingreq", encodePingreq(buf, 0));
  line("pingresp", encodeEmpty(buf, 0, 13));
  line("disconnect", encodeDisconnect(buf, 0));
  line("subscribe", encodeSubscribe(buf, 0, 6, ["test", "uest", "a/+/#", String.fromCharCode(0xc3, 0xa9) + "/x"], [0, 1, 2, 1]));
  line("unsubscribe", encodeUnsubscribe(buf, 0, 7, ["tfst", "a/#"]));
  let lengths = [0, 1, 2, 120, 121, 122, 123, 124, 125, 126, 127, 128, 200, 16375, 16376, 16377, 16378, 16379, 16380, 16383, 16384, 17000];
  let payload = "";
  let r = new Rand(7);
  while (payload.length < 17000) payload += String.fromCharCode(r.next(256));
  for (let q = 0; q < 3; q++) {
    for (let i = 0; i < lengths.length; i++) {
      let p = payload.substring(0, lengths[i]);
      let n = encodePublishString(buf, 0, "a/b", p, q, q === 1, q === 2, q > 0 ? 10 + i : 0);
      // long packets: the length, the header and a digest-like sum instead of every byte
      let sum = 0;
      for (let k = 0; k < n; k++) sum = (sum * 31 + buf[k]) % 1000003;
      out.push("pub " + q + " " + lengths[i] + " " + n + " " + publishSize(3, lengths[i], q) + " " + hex(buf, 0, n < 12 ? n : 12) + " " + sum);
    }
  }
  // encodePublish from bytes, with DUP and without
  let src = fromString(alloc, "xx" + "sport/tennis" + "hello world", 0);
  let n2 = encodePublish(buf, 3, 1, true, true, 513, src, 2, 12, src, 14, 11);
  out.push("enc-bytes " + n2 + " " + hex(buf, 3, n2));
  encodePublish(buf, 3, 1, true, false, 513, src, 2, 12, src, 14, 11);
  out.push("enc-bytes-nodup " + hex(buf, 3, n2));
  let rls = [0, 1, 127, 128, 129, 16383, 16384, 2097151, 2097152, 268435455];
  for (let i = 0; i < rls.length; i++) {
    let k = writeRemainingLength(buf, 0, rls[i]);
    out.push("rl " + rls[i] + " " + k + " " + remainingLengthSize(rls[i]) + " " + hex(buf, 0, k) + " " + frameLength(buf, 0, 3));
  }
}

/** Packets as byte lists: the decoder's and the reader's inputs. */
function packets(alloc: Allocator): number[][] {
  let buf = alloc.bytes(300);
  let list: number[][] = [];
  let take = (n: number) => {
    let a: number[] = [];
    for (let i = 0; i < n; i++) a.push(buf[i]);
    list.push(a);
  };
  take(encodeConnect(buf, 0, {
    protocolName: "MQTT", protocolLevel: 4, clientId: "dev1", cleanSession: true, keepalive: 60, username: "u",
    password: "p", willTopic: "w/t", willMessage: "bye", willQos: 1, willRetain: true,
  }));
  take(encodeConnack(buf, 0, true, 0));
  take(encodePublishString(buf, 0, "a/b", "payload", 0, false, false, 0));
  take(encodePublishString(buf, 0, "a/b/c", "", 1, true, true, 99));
  take(encodePublishString(buf, 0, "x", "two", 2, false, false, 65535));
  for (let t = 4; t <= 7; t++) take(encodeAck(buf, 0, t, t === 6 ? 2 : 0, t * 1000));
  take(encodeSubscribe(buf, 0, 6, ["a/+", "#"], [1, 2]));
  take(encodeSuback(buf, 0, 6, [1, 128], 2));
  take(encodeUnsubscribe(buf, 0, 7, ["a/+"]));
  take(encodeAck(buf, 0, 11, 0, 7));
  take(encodePingreq(buf, 0));
  take(encodeEmpty(buf, 0, 13));
  take(encodeDisconnect(buf, 0));
  let big = "";
  for (let i = 0; i < 300; i++) big += String.fromCharCode(65 + (i % 26));
  let bigBuf = alloc.bytes(400);
  let n = encodePublishString(bigBuf, 0, "big/topic", big, 1, false, false, 3);
  let a: number[] = [];
  for (let i = 0; i < n; i++) a.push(bigBuf[i]);
  list.push(a);
  return list;
}

const MALFORMED: number[][] = [
  [0x00, 0], [0xf0, 0], [33, 2, 0, 5], [32, 2, 2, 5], [32, 3, 0, 0, 0], [32, 2, 0, 6],
  [0x36, 6, 0, 4, 116, 101, 115, 116], [0x38, 6, 0, 4, 116, 101, 115, 116], [0x30, 4, 0, 4, 116, 101],
  [0x32, 6, 0, 4, 116, 101, 115, 116], [0x32, 8, 0, 4, 116, 101, 115, 116, 0, 0], [0x30, 1, 0],
  [65, 2, 0, 2], [64, 1, 0], [64, 3, 0, 2, 0], [64, 2, 0, 0], [81, 2, 0, 2], [96, 2, 0, 2], [113, 2, 0, 2],
  [128, 9, 0, 6, 0, 4, 116, 101, 115, 116, 0], [130, 9, 0, 6, 0, 4, 116, 101, 115, 116, 3],
  [130, 9, 0, 6, 0, 4, 116, 101, 115, 116, 0x40], [130, 2, 0, 6], [130, 8, 0, 6, 0, 4, 116, 101, 115, 116],
  [130, 9, 0, 0, 0, 4, 116, 101, 115, 116, 0], [144, 6, 0, 6, 0, 1, 2, 3], [144, 2, 0, 6],
  [160, 8, 0, 7, 0, 4, 116, 102, 115, 116], [162, 2, 0, 7], [162, 7, 0, 7, 0, 4, 116, 102, 115], [177, 2, 0, 8],
  [193, 0], [192, 1, 0], [209, 0], [225, 0], [224, 1, 0],
  [17, 12, 0, 4, 77, 81, 84, 84, 4, 2, 0, 30, 0, 0], [16, 12, 0, 4, 77, 81, 84, 84, 4, 3, 0, 30, 0, 0],
  [16, 12, 0, 4, 77, 81, 84, 84, 4, 10, 0, 30, 0, 0], [16, 12, 0, 4, 77, 81, 84, 84, 4, 34, 0, 30, 0, 0],
  [16, 18, 0, 4, 77, 81, 84, 84, 4, 30, 0, 30, 0, 0, 0, 1, 97, 0, 1, 98],
  [16, 16, 0, 4, 77, 81, 84, 84, 4, 66, 0, 30, 0, 0, 0, 2, 112, 119],
  [16, 12, 0, 4, 77, 81, 84, 84, 4, 130, 0, 30, 0, 0], [16, 12, 0, 4, 77, 81, 84, 84, 4, 6, 0, 30, 0, 0],
  [16, 13, 0, 4, 77, 81, 84, 84, 4, 2, 0, 30, 0, 0, 0], [16, 12, 0, 4, 77, 81, 84, 84, 4, 2, 0, 30, 0, 5],
  [16, 8, 0, 4, 77, 81, 84, 84, 4, 2], [16, 4, 0, 9, 77, 81],
  [16, 15, 0, 6, 77, 81, 73, 115, 100, 112, 3, 67, 0, 30, 0, 0, 0, 1, 112],
];

function decoding(alloc: Allocator, out: string[]): void {
  let d = new Decoded();
  let all = packets(alloc);
  for (let i = 0; i < MALFORMED.length; i++) all.push(MALFORMED[i]);
  for (let i = 0; i < all.length; i++) {
    let b = fromList(alloc, all[i]);
    let total = decodeFrame(b, 0, all[i].length, d);
    out.push("dec " + i + " " + total + " " + dump(d));
    let header = 2;
    while (header < all[i].length && b[header - 1] >= 128) header++;
    let e = decodePacket(b[0], b, header, all[i].length - header, d);
    out.push("pkt " + i + " " + e + " " + dump(d));
    for (let cut = 0; cut <= all[i].length && cut < 6; cut++) out.push("frame " + i + " " + cut + " " + frameLength(b, 0, cut));
  }
}

class Collect implements PacketSink {
  lines: string[] = [];
  failAt = -1;
  onPacket(first: number, buf: Bytes, off: number, len: number): number {
    this.lines.push(first + ":" + len + ":" + hex(buf, off, len));
    if (this.lines.length === this.failAt) return 77;
    return ERR_NONE;
  }
}

function framing(alloc: Allocator, out: string[]): void {
  let all = packets(alloc);
  let stream: number[] = [];
  for (let i = 0; i < all.length; i++) for (let k = 0; k < all[i].length; k++) stream.push(all[i][k]);
  let whole = fromList(alloc, stream);
  let steps = [1, 2, 3, 5, 7, 64, 1460, stream.length];
  for (let s = 0; s < steps.length; s++) {
    let reader = new PacketReader(alloc, 1024, 16, 16);
    let sink = new Collect();
    let err = 0;
    for (let off = 0; off < stream.length && err === ERR_NONE; off += steps[s]) {
      let n = stream.length - off < steps[s] ? stream.length - off : steps[s];
      err = reader.feed(whole, off, n, sink);
    }
    out.push("frame-step " + steps[s] + " " + err + " " + sink.lines.length + " " + (reader.awaiting() !== 0));
    for (let i = 0; i < sink.lines.length; i++) out.push("  " + sink.lines[i]);
  }
  // limits: too large by header, malformed length, a sink error
  let limits = [8, 9, 20, 311, 312, 313];
  for (let i = 0; i < limits.length; i++) {
    let reader = new PacketReader(alloc, limits[i], 4, 4);
    let sink = new Collect();
    out.push("limit " + limits[i] + " " + reader.feed(whole, 0, stream.length, sink) + " " + sink.lines.length);
  }
  let bad = fromList(alloc, [0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
  out.push("five-length-bytes " + new PacketReader(alloc, 1000000000, 4, 4).feed(bad, 0, 6, new Collect()));
  let failing = new Collect();
  failing.failAt = 3;
  out.push("sink-error " + new PacketReader(alloc, 1024, 4, 4).feed(whole, 0, stream.length, failing) + " " + failing.lines.length);
}

const UTF8: number[][] = [
  [], [104, 101, 108, 108, 111], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9d, 0x84, 0x9e], [0xc2, 0xa0],
  [0xed, 0x9f, 0xbf], [0xee, 0x80, 0x80], [0xef, 0xbf, 0xbd], [0xf4, 0x8f, 0xbf, 0xbd], [0x61, 0x00, 0x62],
  [0x01], [0x1f], [0x09], [0x7f], [0xc2, 0x80], [0xc2, 0x9f], [0xc0, 0xaf], [0xc0, 0x80], [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf], [0xe0, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0xaf], [0xf0, 0x8f, 0xbf, 0xbf], [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf], [0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9], [0xef, 0xb7, 0x90], [0xef, 0xb7, 0xaf],
  [0xef, 0xbf, 0xbe], [0xef, 0xbf, 0xbf], [0xf0, 0x9f, 0xbf, 0xbe], [0xf4, 0x8f, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80], [0xfe], [0xff], [0x80], [0x61, 0xbf], [0x61, 0xc3], [0xe2, 0x82], [0xf0, 0x9d, 0x84],
  [0xe2, 0x82, 0x61], [0xc3, 0x28], [0xe2, 0x28, 0xa1],
];

function utf8(alloc: Allocator, out: string[]): void {
  for (let i = 0; i < UTF8.length; i++) {
    let framed: number[] = [0xff, 0xff];
    for (let k = 0; k < UTF8[i].length; k++) framed.push(UTF8[i][k]);
    framed.push(0xff);
    out.push("utf8 " + i + " " + validUtf8(fromList(alloc, framed), 2, UTF8[i].length));
  }
  // every one- and two-byte sequence, and random longer ones
  let verdicts = "";
  let two = alloc.bytes(2);
  for (let a = 0; a < 256; a++) {
    two[0] = a;
    verdicts += validUtf8(two, 0, 1) ? "1" : "0";
    for (let b = 0; b < 256; b += 3) {
      two[1] = b;
      verdicts += validUtf8(two, 0, 2) ? "1" : "0";
    }
    if (a % 32 === 31) {
      out.push("utf8-grid " + a + " " + verdicts);
      verdicts = "";
    }
  }
  let r = new Rand(12345);
  let seq = alloc.bytes(8);
  let starts = [0x41, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0x80, 0xbf];
  let line = "";
  for (let i = 0; i < 4000; i++) {
    let len = 1 + r.next(6);
    seq[0] = starts[r.next(starts.length)];
    for (let k = 1; k < len; k++) seq[k] = r.next(3) === 0 ? r.next(256) : 0x80 + r.next(64);
    line += validUtf8(seq, 0, len) ? "1" : "0";
    if (line.length === 100) {
      out.push("utf8-random " + i + " " + line);
      line = "";
    }
  }
}

const FILTERS = [
  "#", "+", "a", "a/b", "a/+", "+/b", "a/#", "+/+", "+/#", "a/+/c/#", "/", "//", "a//b", "/#", "/+", "$SYS/#",
  "sport/tennis/player1/#", "a b/c d", "", "a#", "#/a", "a/#/b", "a/#/", "##", "a/##", "#+", "+#", "a+", "+a",
  "a/b+", "a/+b", "++", "sport+", "sport/tennis#",
];

const MATCHES: string[][] = [
  ["a/b", "a/b"], ["a/b", "a/b/c"], ["a/b/c", "a/b"], ["a/b", "a/bc"], ["A", "a"], ["a/+", "a/b"], ["a/+", "a"],
  ["a/+", "a/"], ["+", "/"], ["+/+", "/"], ["+/+", "x"], ["/+", "/x"], ["+/b/+", "a/b/c"], ["#", "/"],
  ["a/#", "a"], ["a/#", "ab"], ["a/b/#", "a/b"], ["a/+/#", "a"], ["a/+/#", "a/b/c/d"], ["+/#", "a"],
  ["sport/+", "sport"], ["sport/+", "sport/"], ["/#", "/"], ["/#", "a"], ["a//#", "a/"], ["+/+/+", "//"],
  ["#", "$SYS/x"], ["+", "$SYS"], ["$SYS/#", "$SYS"], ["$SYS/+", "$SYS/a/b"], ["+/$x", "a/$x"], ["#", "a$"],
];

class Sub implements Subscriber {
  matchStamp = 0;
  matchQos = 0;
  name: string;
  constructor(name: string) {
    this.name = name;
  }
}

const LEVELS = ["a", "b", "", "$s", "ab", "+", "+"];

function randomFilter(r: Rand): string {
  if (r.next(12) === 0) return r.next(2) === 0 ? "#" : "+";
  let n = 1 + r.next(4);
  let f = "";
  for (let i = 0; i < n; i++) f += (i > 0 ? "/" : "") + LEVELS[r.next(LEVELS.length)];
  if (r.next(3) === 0) f += "/#";
  return f === "" ? "a" : f;
}

function randomTopic(r: Rand): string {
  let n = 1 + r.next(5);
  let t = "";
  for (let i = 0; i < n; i++) t += (i > 0 ? "/" : "") + LEVELS[r.next(5)];
  return t === "" ? "b" : t;
}

function topics(alloc: Allocator, out: string[]): void {
  for (let i = 0; i < FILTERS.length; i++) {
    let b = fromString(alloc, FILTERS[i], 2);
    out.push("filter " + i + " " + validTopicFilter(FILTERS[i]) + " " + validTopicName(b, 2, FILTERS[i].length) +
      " " + countLevels(b, 2, FILTERS[i].length) + " " + hexString(text.str(b, 2, FILTERS[i].length)));
  }
  for (let i = 0; i < MATCHES.length; i++) {
    let f = MATCHES[i][0];
    let t = MATCHES[i][1];
    let b = fromString(alloc, t, 3);
    out.push("match " + i + " " + filterMatchesString(f, t) + " " + filterMatchesBytes(f, b, 3, t.length) + " " + filterCovers(f, t));
  }
  let r = new Rand(4242);
  let line = "";
  for (let i = 0; i < 3000; i++) {
    let f = randomFilter(r);
    let t = randomTopic(r);
    let b = fromString(alloc, t, 1);
    line += (filterMatchesString(f, t) ? "1" : "0") + (filterMatchesBytes(f, b, 1, t.length) ? "1" : "0") +
      (filterCovers(f, randomFilter(r)) ? "1" : "0");
    if (line.length >= 150) {
      out.push("match-random " + i + " " + line);
      line = "";
    }
  }
  // the trie: subscribers add, replace and remove filters; every match listed in order with its QoS
  let trie = new TopicTable<Sub>(40);
  let subs: Sub[] = [];
  for (let i = 0; i < 6; i++) subs.push(new Sub("s" + i));
  let found: Sub[] = [];
  let held: string[][] = [];
  for (let i = 0; i < subs.length; i++) held.push([]);
  for (let round = 0; round < 400; round++) {
    let who = r.next(subs.length);
    let s = subs[who];
    let f = randomFilter(r);
    let res: string;
    if (r.next(5) < 3 || held[who].length === 0) {
      let a = trie.add(f, s, r.next(3));
      if (a === 1) held[who].push(f);
      res = "add " + a;
    } else {
      // mostly a filter it holds, sometimes one it does not
      let k = r.next(held[who].length + 1);
      if (k < held[who].length) {
        f = held[who][k];
        held[who].splice(k, 1);
      }
      res = "remove " + trie.remove(f, s);
    }
    let t = randomTopic(r);
    let b = fromString(alloc, t, 2);
    let n = trie.match(b, 2, t.length, found);
    let m = "";
    for (let k = 0; k < n; k++) m += " " + found[k].name + "@" + found[k].matchQos;
    out.push("trie " + round + " " + s.name + " " + hexString(f) + " " + res + " count=" + trie.count + " " + hexString(t) + " ->" + m);
  }
}

/** Every vector, one line each. `alloc` is the runtime's byte buffer (Uint8Array on Node, a table on Lua). */
export function run(alloc: Allocator): string[] {
  let out: string[] = [];
  codec(alloc, out);
  decoding(alloc, out);
  framing(alloc, out);
  utf8(alloc, out);
  topics(alloc, out);
  return out;
}
