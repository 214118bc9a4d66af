/**
 * The fuzz corpus (test/fuzz/corpus, grown by `npm run fuzz`) replayed
 * through the fuzz targets on every `npm test`: no input may throw (a crash
 * or a broken invariant), hang, or leave memory behind; and the targets'
 * checks must fire on a broker broken on purpose.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Broker } from "../../firmware/broker/broker";
import { seeds } from "../fuzz/engine";
import { fuzzConnection, fuzzParser, TARGETS } from "../fuzz/targets";
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

test("the parser target finds a reader that frames differently when split", () => {
  // a valid stream runs clean...
  fuzzParser(Uint8Array.from([1, 0xc0, 0x00, 0x30, 0x03, 0x00, 0x01, 0x61]));
  // ...and a stream ending mid-packet is no finding either (the reader waits)
  fuzzParser(Uint8Array.from([1, 0x30, 0x05, 0x00]));
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
  } finally {
    Broker.prototype.disconnect = disconnect;
  }
  fuzzConnection(Uint8Array.from([0]));
});

test.run();
