/**
 * fast-check properties beside the coverage-guided fuzzer: arbitrary bytes
 * through the parser target, and programs of plausible-but-hostile packets
 * (random flags, ids, wildcards in topic names, `$SYS` writes, acks for
 * nothing, garbage, clock jumps, cuts) through the connection target, whose
 * invariants must hold for every one (fixed seeds: failures replay).
 */
import * as fc from "fast-check";
import { test } from "uvu";
import { fuzzConnection, fuzzParser } from "../fuzz/targets";

const u16 = (n: number) => [(n >> 8) & 255, n & 255];
const str = (s: string) => {
  const b = Buffer.from(s, "utf8");
  return [...u16(b.length), ...b];
};
const pkt = (first: number, body: number[]) => {
  const len: number[] = [];
  let n = body.length;
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d += 128;
    len.push(d);
  } while (n > 0);
  return [first, ...len, ...body];
};

const name = fc.constantFrom("", "a", "ok/x", "ok/+", "ok/#", "#", "+", "$SYS/broker/x", "a//b", "/", "ok/secret", "u/u/x", "c/x/y", "\u0000", "ok/\uffff");
const filter = fc.constantFrom("#", "+", "ok/#", "ok/+/x", "$SYS/#", "a/#/b", "a+", "", "c/%c/#", "ok/secret", "+/+/+");
const id = fc.constantFrom("", "x", "good-subscriber-7f3a", "a/b", "+", "#", "x".repeat(40), "u");

const packet = fc.oneof(
  fc.record({ id, flags: fc.integer({ min: 0, max: 255 }), keep: fc.integer({ min: 0, max: 70000 }), user: fc.option(fc.constantFrom("u", "v", "")), pass: fc.option(fc.constantFrom("secret", "nope", "")), will: fc.option(name) })
    .map((c) => {
      let flags = c.flags & 0x3e;
      const extra: number[] = [];
      if (c.will !== null) {
        flags |= 4;
        extra.push(...str(c.will), ...str("bye"));
      } else flags &= ~0x3c;
      if (c.user !== null) {
        flags |= 128;
        extra.push(...str(c.user));
        if (c.pass !== null) {
          flags |= 64;
          extra.push(...str(c.pass));
        }
      }
      return pkt(0x10, [...str("MQTT"), 4, flags, ...u16(c.keep % 65536), ...str(c.id), ...extra]);
    }),
  fc.record({ pid: fc.integer({ min: 0, max: 65535 }), fs: fc.array(fc.tuple(filter, fc.integer({ min: 0, max: 3 })), { minLength: 0, maxLength: 3 }) })
    .map((s) => pkt(0x82, [...u16(s.pid), ...s.fs.flatMap(([f, q]) => [...str(f), q])])),
  fc.record({ pid: fc.integer({ min: 0, max: 65535 }), fs: fc.array(filter, { maxLength: 2 }) }).map((s) => pkt(0xa2, [...u16(s.pid), ...s.fs.flatMap(str)])),
  fc.record({ topic: name, qos: fc.integer({ min: 0, max: 3 }), retain: fc.boolean(), dup: fc.boolean(), pid: fc.integer({ min: 0, max: 65535 }), payload: fc.uint8Array({ maxLength: 40 }) })
    .map((p) => pkt(0x30 + (p.dup ? 8 : 0) + p.qos * 2 + (p.retain ? 1 : 0), [...str(p.topic), ...(p.qos > 0 ? u16(p.pid) : []), ...p.payload])),
  fc.record({ type: fc.constantFrom(0x40, 0x50, 0x62, 0x70, 0x60), pid: fc.integer({ min: 0, max: 65535 }) }).map((a) => pkt(a.type, u16(a.pid))),
  fc.constantFrom([0xc0, 0], [0xe0, 0], [0xd0, 0], [0x20, 2, 0, 0], [0xf0, 0], [0x00, 0]),
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => Array.from(b)),
);

/** One step of the connection target's little program (see targets.ts). */
const step = fc.oneof(
  { weight: 6, arbitrary: packet.map((p) => [0xf8, Math.min(p.length, 255), ...p.slice(0, 255)]) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 31 }).map((t) => [5 + 8 * t]) },
  { weight: 1, arbitrary: fc.constantFrom([6], [6 + 64], [6 + 128], [7], [7 + 128]) },
);

test("property: the parser target holds for any bytes", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (d) => fuzzParser(d)), { numRuns: 1500, seed: 5 });
});

test("property: the parser target holds for streams of plausible packets", () => {
  fc.assert(fc.property(fc.array(packet, { maxLength: 8 }), fc.integer({ min: 0, max: 1 }), (ps, m) => fuzzParser(Uint8Array.from([m, ...ps.flat()]))), { numRuns: 800, seed: 6 });
});

test("property: hostile packet programs never break the broker or another client", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 }), fc.array(step, { maxLength: 14 }), (mode, steps) => fuzzConnection(Uint8Array.from([mode, ...steps.flat()]))),
    { numRuns: 600, seed: 7 },
  );
});

test.run();
