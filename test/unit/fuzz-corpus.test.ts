/**
 * The fuzz corpus (test/fuzz/corpus, grown by `npm run fuzz`) replayed
 * through the fuzz targets on every `npm test`: no input may throw (a crash
 * or a broken invariant), hang, or leave memory behind; the connection
 * corpus also through the Espruino adapter's receive path
 * (fuzzConnectionReceive); and the targets' checks must fire on a reader or
 * a broker broken on purpose.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Broker } from "../../firmware/core/broker/broker";
import { ERR_NONE } from "../../firmware/core/codec/constants";
import { PacketSink } from "../../firmware/core/codec/reader";
import { Bytes } from "../../firmware/core/platform";
import { seeds } from "../fuzz/engine";
import {
  coreReader, Framer, FramerFactory, fuzzConnection, fuzzConnectionReceive, fuzzParser, NETWORK_TARGETS, parserCut, TARGETS,
} from "../fuzz/targets";
import { gc } from "../support/load";

const CORPUS = path.join(__dirname, "..", "fuzz", "corpus");

function corpus(target: string): { name: string; data: Uint8Array }[] {
  const dir = path.join(CORPUS, target);
  const files = existsSync(dir) ? readdirSync(dir).sort() : [];
  return [
    ...seeds(target).map((data, i) => ({ name: "seed " + i, data })),
    ...files.map((f) => ({ name: f, data: new Uint8Array(readFileSync(path.join(dir, f))) })),
  ];
}

for (const target of Object.keys(TARGETS)) {
  test(`corpus ${target}: every input runs clean, none hangs, memory comes back`, () => {
    const inputs = corpus(target);
    assert.ok(inputs.length >= 7, "a corpus to replay");
    const fn = TARGETS[target];
    gc();
    const before = process.memoryUsage().heapUsed;
    const started = Date.now();
    let slowest = 0;
    for (const { name, data } of inputs) {
      const t = Date.now();
      try {
        fn(data);
      } catch (e) {
        assert.unreachable(`${target} corpus file ${name}: ${(e as Error).message}`);
      }
      const took = Date.now() - t;
      if (took > slowest) slowest = took;
      assert.ok(took < 2000, `${name} took ${took} ms`);
    }
    gc();
    const grew = process.memoryUsage().heapUsed - before;
    console.log(`  ${target}: ${inputs.length} inputs in ${Date.now() - started} ms (slowest ${slowest} ms), heap ${grew >= 0 ? "+" : ""}${(grew / 1024).toFixed(0)} KB after GC`);
    assert.ok(grew < 16 * 1024 * 1024, "heap grew " + grew);
  });
}

for (const [name, t] of Object.entries(NETWORK_TARGETS)) {
  test(`corpus ${t.corpus} through ${name}: every input runs clean, memory comes back`, () => {
    const inputs = corpus(t.corpus);
    gc();
    const before = process.memoryUsage().heapUsed;
    const started = Date.now();
    for (const { name: file, data } of inputs) {
      try {
        t.run(data);
      } catch (e) {
        assert.unreachable(`${name} corpus file ${file}: ${(e as Error).message}`);
      }
    }
    gc();
    const grew = process.memoryUsage().heapUsed - before;
    console.log(`  ${name}: ${inputs.length} inputs in ${Date.now() - started} ms, heap ${grew >= 0 ? "+" : ""}${(grew / 1024).toFixed(0)} KB after GC`);
    assert.ok(grew < 16 * 1024 * 1024, "heap grew " + grew);
  });
}

// ---- the parser target against readers broken on purpose ----

/** A well-formed stream whose first byte is also a packet's (the target frames the whole input) and whose split falls inside a packet. */
function splitInsideAPacket(): { data: Uint8Array; cut: number; boundaries: number[] } {
  const packets = [
    [0x30, 0x03, 0x00, 0x01, 0x61], // PUBLISH "a", QoS 0: even first byte, so the 4096-byte limit
    [0xc0, 0x00], // PINGREQ
    [0x32, 0x08, 0x00, 0x02, 0x61, 0x2f, 0x00, 0x07, 0x68, 0x69], // PUBLISH "a/" QoS 1 id 7 "hi"
    [0x82, 0x06, 0x00, 0x02, 0x00, 0x01, 0x23, 0x01], // SUBSCRIBE "#" QoS 1
    [0x30, 0x04, 0x00, 0x01, 0x62, 0x00], // PUBLISH "b" with a payload byte chosen below
  ];
  const boundaries: number[] = [];
  let n = 0;
  for (const p of packets) {
    boundaries.push(n);
    n += p.length;
  }
  boundaries.push(n);
  // the last byte chooses the cut ((last * 7) % length): pick one inside the third packet's body
  for (let v = 0; v < 256; v++) {
    const data = Uint8Array.from([...packets.flat().slice(0, n - 1), v]);
    const cut = parserCut(data);
    if (cut > boundaries[2] + 2 && cut < boundaries[3]) return { data, cut, boundaries };
  }
  throw new Error("no payload byte puts the cut inside a packet");
}

/** A reader that drops the byte at the split point: the first byte of every feed after the first. */
const dropsAByteAtTheSplit: FramerFactory = (maxPacket) => {
  const real = coreReader(maxPacket);
  let feeds = 0;
  return {
    get buf() {
      return real.buf;
    },
    feed(src: Bytes, off: number, len: number, sink: PacketSink): number {
      return feeds++ > 0 && len > 0 ? real.feed(src, off + 1, len - 1, sink) : real.feed(src, off, len, sink);
    },
    awaiting: () => real.awaiting(),
  };
};

/** A reader that forgets a packet cut at a chunk's end: every feed starts as if at a packet boundary. */
const forgetsAcrossFeeds: FramerFactory = (maxPacket) => {
  let real: Framer = coreReader(maxPacket);
  return {
    get buf() {
      return real.buf;
    },
    feed(src: Bytes, off: number, len: number, sink: PacketSink): number {
      real = coreReader(maxPacket);
      return real.feed(src, off, len, sink);
    },
    awaiting: () => real.awaiting(),
  };
};

/** Packets a reader frames from the stream given whole. */
function framedWhole(make: FramerFactory, data: Uint8Array): number[] {
  const lens: number[] = [];
  const sink: PacketSink = { onPacket: (first: number, buf: Bytes, off: number, len: number) => { lens.push(first, len); return ERR_NONE; } };
  assert.is(make(4096).feed(data, 0, data.length, sink), ERR_NONE);
  return lens;
}

test("the parser target finds a reader that frames differently when split", () => {
  const { data, cut, boundaries } = splitInsideAPacket();
  assert.ok(boundaries.indexOf(cut) < 0, `the cut ${cut} must fall inside a packet, not on a boundary ${boundaries}`);
  // the core's reader: whole, split and byte by byte frame the same
  fuzzParser(data);
  for (const [name, broken] of [["drops a byte at the split", dropsAByteAtTheSplit], ["forgets across feeds", forgetsAcrossFeeds]] as const) {
    // given the stream whole, the broken reader frames as the core's does: only a split shows it
    assert.equal(framedWhole(broken, data), framedWhole(coreReader, data), `${name}: frames the whole stream differently`);
    assert.throws(() => fuzzParser(data, broken), new RegExp("split at " + cut + " frames differently"), `${name}: not caught`);
  }
  // and a stream ending mid-packet is no finding (the reader waits)
  fuzzParser(Uint8Array.from([0x30, 0x05, 0x00]));
});

test("the connection target's checks fire on a broken broker", () => {
  const send = Broker.prototype.send;
  try {
    // a broker that loses the PUBLISH packets it sends
    Broker.prototype.send = function (this: Broker, id: number, len: number): boolean {
      if (Math.floor(this.tx[0] / 16) === 3) return true;
      return send.call(this, id, len);
    };
    assert.throws(() => fuzzConnection(Uint8Array.from([0])), /fresh subscriber got 0/);
    assert.throws(() => fuzzConnectionReceive(Uint8Array.from([0])), /fresh subscriber got 0/);
  } finally {
    Broker.prototype.send = send;
  }
  const disconnect = Broker.prototype.disconnect;
  try {
    // a broker that forgets to count a client out
    Broker.prototype.disconnect = function (this: Broker, conn, reason): void {
      disconnect.call(this, conn, reason);
      if (conn.clientId.indexOf("fresh-sub") === 0) this.clientCount++;
    };
    assert.throws(() => fuzzConnection(Uint8Array.from([0])), /connections left|clientCount/);
    assert.throws(() => fuzzConnectionReceive(Uint8Array.from([0])), /connections left|clientCount/);
  } finally {
    Broker.prototype.disconnect = disconnect;
  }
  fuzzConnection(Uint8Array.from([0]));
  fuzzConnectionReceive(Uint8Array.from([0]));
});

test.run();
