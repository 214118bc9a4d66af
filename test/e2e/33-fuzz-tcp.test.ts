/**
 * The connection fuzz target over real TCP (test/fuzz/tcp-target.ts): the
 * corpus (connection programs, and the parser's inputs as byte streams split
 * where the parser target splits them) and a bounded number of mutations,
 * sent over node:net sockets to a TcpTransport broker on 127.0.0.1, with the
 * simulated target's checks (no throw, structures consistent and bounded,
 * a fresh client still served, every connection gone at the end) and, after
 * the run, no socket or server left and the heap back within a bound.
 * Then the target's checks must fire on brokers broken on purpose.
 */
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Broker } from "../../firmware/core/broker/broker";
import { runNetworkFuzz } from "../fuzz/net-runner";
import { fuzzConnectionTcp } from "../fuzz/tcp-target";

const CORPUS = path.join(__dirname, "..", "fuzz", "corpus");

test("fuzz over real TCP: the corpus and 300 mutations run clean, no socket left, memory back", async () => {
  const r = await runNetworkFuzz({ net: "tcp", corpusDir: CORPUS, seed: 33, seconds: 20, maxMutations: 300 });
  console.log(`  tcp: ${r.corpus} corpus inputs and ${r.mutations} mutations in ${r.wallMs} ms (slowest ${r.slowestMs} ms), ` +
    `heap over the mutations ${r.heapGrowth >= 0 ? "+" : ""}${(r.heapGrowth / 1024).toFixed(0)} KB, TCP handles left ${r.handlesLeft}`);
  assert.equal(r.findings.map((f) => `${f.name}: ${f.message} [${Buffer.from(f.input).toString("hex")}]`), []);
  assert.ok(r.corpus > 300, "corpus inputs: " + r.corpus);
  assert.is(r.mutations, 300);
  // fewer than at the start is fine: the suites before this one may still be closing theirs
  assert.ok(r.handlesLeft <= 0, "TCP sockets or servers left open: " + r.handlesLeft);
  assert.ok(r.heapGrowth < 8 * 1024 * 1024, "heap grew " + r.heapGrowth + " over the mutations");
});

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  let err: Error | undefined;
  try {
    await p;
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err !== undefined, "no finding, expected " + re);
  assert.match(err!.message, re);
}

/** The seeds' first input: a subscriber and a publisher in open mode (see engine.ts seeds). */
const PLAIN = Uint8Array.from([0]);

test("the TCP target's checks fire on a broken broker", async () => {
  const send = Broker.prototype.send;
  try {
    // a broker that loses the PUBLISH packets it sends
    Broker.prototype.send = function (this: Broker, id: number, len: number): boolean {
      if (Math.floor(this.tx[0] / 16) === 3) return true;
      return send.call(this, id, len);
    };
    await rejects(fuzzConnectionTcp(PLAIN), /fresh subscriber got 0/);
  } finally {
    Broker.prototype.send = send;
  }
  const closed = Broker.prototype.closed;
  try {
    // a broker that ignores a socket closing under it
    Broker.prototype.closed = function (this: Broker, id: number): void {
      const c = this.connection(id);
      if (c !== undefined && c.clientId.indexOf("fresh-sub") === 0) return;
      closed.call(this, id);
    };
    await rejects(fuzzConnectionTcp(PLAIN), /connections left/);
  } finally {
    Broker.prototype.closed = closed;
  }
  const data = Broker.prototype.data;
  try {
    // a broker whose receive path throws: tcp.ts's guard catches it, the target reports it
    Broker.prototype.data = function (this: Broker, id: number, buf, off: number, len: number): void {
      const c = this.connection(id);
      if (c !== undefined && c.clientId.indexOf("fresh-pub") === 0) throw new Error("boom");
      data.call(this, id, buf, off, len);
    };
    await rejects(fuzzConnectionTcp(PLAIN), /tcp.ts caught a throw|PUBACK/);
  } finally {
    Broker.prototype.data = data;
  }
  await fuzzConnectionTcp(PLAIN);
});

test.run();
