/**
 * A short soak and fuzz run against the firmware on the Espruino interpreter
 * (firmware/espruino/interpreter, flashed as on a board: firmware/espruino/tools/flash.ts),
 * over TCP, every client write split at random byte boundaries a few ms
 * apart (so the board's receive.ts sees packets cut anywhere):
 * - two persistent QoS 1 subscribers, two publishers, 240 messages (QoS 1
 *   one at a time per publisher, QoS 0 paced), one subscriber cut and back
 *   in the middle;
 * - then inputs of the fuzz corpus, each on a fresh connection: parser
 *   inputs as byte streams, and the writes of connection programs;
 * then: every QoS 1 acknowledged to its publisher reached each subscriber at
 * least once, QoS 0 at most once, nothing arrived that nobody published or
 * off a subscriber's filters, the broker's stream was never malformed, a
 * fresh client is still served, and the board's JsVar usage is back near
 * where it started (no growth from one round of traffic to the next).
 * Two such rounds after a short warm-up one: about 80 s.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CONNACK, PUBACK, PUBLISH, PUBREL, SUBACK } from "../../firmware/core/codec/constants";
import { flash } from "../../firmware/espruino/tools/flash";
import { EspruinoConsole, openLink } from "../../firmware/espruino/tools/console";
import { Board, startBoard } from "../../firmware/espruino/tools/process";
import { seededRandom } from "../../host-sim/sim";
import { parserCut } from "../fuzz/targets";
import { ackBytes, connectBytes, Packet, PacketDecoder, publishBytes, subscribeBytes } from "../support/sim-client";

const CORPUS = path.join(__dirname, "..", "fuzz", "corpus");
const rand = seededRandom(1305);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw MQTT client whose writes go out in random pieces, a few ms apart, in order. */
class Client {
  sock: net.Socket;
  dec = new PacketDecoder();
  inbox: Packet[] = [];
  closed = false;
  malformed: string | undefined;
  private chain: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(port: number) {
    this.sock = net.connect(port, "127.0.0.1");
    this.sock.setNoDelay(true);
    this.sock.on("data", (d: Buffer) => {
      try {
        for (const p of this.dec.feed(new Uint8Array(d))) this.inbox.push(p);
      } catch (e) {
        this.malformed = (e as Error).message;
      }
      if (this.wake) this.wake();
    });
    this.sock.on("error", () => {});
    this.sock.on("close", () => {
      this.closed = true;
      if (this.wake) this.wake();
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    const b = Uint8Array.from(bytes);
    this.chain = this.chain.then(async () => {
      let i = 0;
      while (i < b.length && !this.closed) {
        const n = 1 + Math.floor(rand() * Math.min(40, b.length - i));
        this.sock.write(b.subarray(i, i + n));
        i += n;
        if (i < b.length) await sleep(1 + Math.floor(rand() * 3));
      }
    });
    return this.chain;
  }

  /** The first packet received that `pred` accepts (taken out of the inbox). */
  async next(pred: (p: Packet) => boolean, ms: number, what: string): Promise<Packet> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      if (this.closed) throw new Error(`closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
  }

  async connect(id: string, clean: boolean): Promise<Packet> {
    await this.write(connectBytes(id, { clean, keepalive: 60 }));
    const ack = await this.next((p) => p.type === CONNACK, 15000, `CONNACK for ${id}`);
    assert.is(ack.returnCode, 0, `${id} refused`);
    return ack;
  }

  end(): void {
    this.sock.end(Uint8Array.from([0xe0, 0]));
  }
}

interface Sent { topic: string; qos: number; acked: boolean }

/** The bytes a connection program (targets.ts) writes on its first hostile socket, in its writes. */
function programWrites(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 1;
  while (i < data.length) {
    const op = data[i++];
    const kind = op % 8;
    if (kind < 5) {
      let n = Math.floor(op / 8) + 1;
      if (n === 32 && i < data.length) n = data[i++];
      out.push(data.subarray(i, Math.min(i + n, data.length)));
      i += n;
    } else if (kind === 7) {
      break; // a second hostile socket: the rest is not this one's
    }
  }
  return out;
}

function pickCorpus(target: string, n: number): Uint8Array[] {
  const dir = path.join(CORPUS, target);
  const files = fs.readdirSync(dir).sort();
  const step = Math.max(1, Math.floor(files.length / n));
  const out: Uint8Array[] = [];
  for (let i = 0; i < files.length && out.length < n; i += step) out.push(new Uint8Array(fs.readFileSync(path.join(dir, files[i]))));
  return out;
}

/** Send one fuzz input's writes on a fresh connection; wait for the board to close it or go quiet, then drop it. */
async function hostile(port: number, writes: Uint8Array[]): Promise<void> {
  const c = new Client(port);
  for (const w of writes) {
    if (c.closed) break;
    await c.write(w);
  }
  const deadline = Date.now() + 1500;
  let seen = -1;
  while (!c.closed && Date.now() < deadline) {
    const n = c.inbox.length;
    if (n === seen) break;
    seen = n;
    await sleep(300);
  }
  c.sock.destroy();
}

test("Espruino interpreter: a short soak and fuzz run with random splits, every invariant, memory back", async () => {
  const started = Date.now();
  const board: Board = await startBoard("telnet");
  let con: EspruinoConsole | undefined;
  const clients: Client[] = [];
  try {
    const step = (s: string) => { if (process.env.VERBOSE) console.log(`  [${((Date.now() - started) / 1000).toFixed(1)} s] ${s}`); };
    step("board started");
    const up = await flash({ port: "tcp://127.0.0.1:2323", board: "espruino-linux", out: () => {} });
    step("flashed");
    const port = up.port;
    con = new EspruinoConsole(await openLink("tcp://127.0.0.1:2323"));
    const c0 = con;
    const used = async () => (await c0.evalJson<{ usage: number }>("process.memory()", 20000)).usage;

    // warm-up: what the first messages create once and keep (the publisher's route, counters) is not growth
    const w = new Client(port);
    await w.connect("warm", true);
    await w.write(subscribeBytes(1, ["warm/#"], [1]));
    await w.next((p) => p.type === SUBACK, 10000, "SUBACK");
    for (let i = 0; i < 5; i++) {
      await w.write(publishBytes("warm/x", "w" + i, 1, false, 10 + i));
      await w.next((p) => p.type === PUBACK, 10000, "PUBACK");
      const own = await w.next((p) => p.type === PUBLISH, 10000, "its own message");
      await w.write(ackBytes(PUBACK, own.packetId));
    }
    w.end();
    await sleep(500);
    step("warm-up done");

    /** One round: the soak with `perPublisher` messages a publisher, then `fuzzCount` inputs of each corpus; then the sessions go. */
    const round = async (label: string, perPublisher: number, fuzzCount: number): Promise<void> => {
      // ---- soak ----
      const filters: { [id: string]: string[] } = { s1: ["soak/#"], s2: ["soak/+/p1", "soak/1/+"] };
      const subs: { [id: string]: Client } = {};
      const got: { [id: string]: Map<string, number> } = { s1: new Map(), s2: new Map() };
      const violations: string[] = [];
      const sent = new Map<string, Sent>();
      const matches = (f: string, t: string) => {
        const a = f.split("/");
        const b = t.split("/");
        for (let i = 0; i < a.length; i++) {
          if (a[i] === "#") return true;
          if (i >= b.length || (a[i] !== "+" && a[i] !== b[i])) return false;
        }
        return a.length === b.length;
      };
      /** Read a subscriber's inbox: acknowledge, and check each message against the model. */
      const drainSub = (id: string) => {
        const c = subs[id];
        for (const p of c.inbox.splice(0)) {
          if (p.type === PUBLISH) {
            if (p.qos === 1) void c.write(ackBytes(PUBACK, p.packetId));
            const m = sent.get(p.payload ?? "");
            if (m === undefined || m.topic !== p.topic) violations.push(`${id}: got "${p.payload}" on ${p.topic}, which nobody published`);
            else if (!filters[id].some((f) => matches(f, p.topic ?? ""))) violations.push(`${id}: got ${p.topic}, off its filters`);
            else got[id].set(p.payload!, (got[id].get(p.payload!) ?? 0) + 1);
          } else if (p.type === PUBREL) {
            violations.push(`${id}: a PUBREL for a QoS 1 subscription`);
          }
        }
      };
      const subscriber = async (id: string, resume: boolean) => {
        const c = new Client(port);
        clients.push(c);
        subs[id] = c;
        const ack = await c.connect(id, false);
        if (resume) assert.ok(ack.sessionPresent, `${id}: session lost over the cut`);
        else {
          await c.write(subscribeBytes(1, filters[id], filters[id].map(() => 1)));
          const sa = await c.next((p) => p.type === SUBACK, 10000, "SUBACK");
          assert.equal(sa.codes, filters[id].map(() => 1));
        }
      };
      await subscriber("s1", false);
      await subscriber("s2", false);
      const pumping = setInterval(() => { drainSub("s1"); drainSub("s2"); }, 20);

      const publisher = async (name: string) => {
        const c = new Client(port);
        clients.push(c);
        await c.connect(name, true);
        let pid = 1;
        for (let i = 0; i < perPublisher; i++) {
          const qos = rand() < 0.5 ? 1 : 0;
          const topic = "soak/" + Math.floor(rand() * 3) + "/" + name;
          const payload = `m|${name}|${i}`;
          const m: Sent = { topic, qos, acked: false };
          sent.set(payload, m);
          await c.write(publishBytes(topic, payload, qos, false, qos > 0 ? pid : 0));
          if (qos === 1) {
            const id = pid;
            await c.next((p) => p.type === PUBACK && p.packetId === id, 20000, `PUBACK ${id} for ${payload}`);
            m.acked = true;
            pid++;
          } else {
            await sleep(30);
          }
          if (name === "p1" && i === Math.floor(perPublisher / 2)) {
            // the second subscriber's connection is cut (no DISCONNECT) and comes back: its session holds what it missed
            subs.s2.sock.destroy();
            await sleep(200);
            await subscriber("s2", true);
          }
        }
        c.end();
      };
      await Promise.all([publisher("p1"), publisher("p2")]);
      // the last deliveries
      const want = [...sent.entries()].filter(([, m]) => m.acked);
      const deadline = Date.now() + 20000;
      const missing = () => want.filter(([pl, m]) => ["s1", "s2"].some((s) => filters[s].some((f) => matches(f, m.topic)) && !got[s].has(pl)));
      while (missing().length > 0 && Date.now() < deadline) await sleep(100);
      clearInterval(pumping);
      drainSub("s1");
      drainSub("s2");
      for (const [pl, m] of missing()) violations.push(`QoS 1 ${pl} on ${m.topic}: acknowledged, never arrived at ${["s1", "s2"].filter((s) => filters[s].some((f) => matches(f, m.topic)) && !got[s].has(pl)).join(", ")}`);
      for (const s of ["s1", "s2"]) {
        for (const [pl, n] of got[s]) if (sent.get(pl)!.qos === 0 && n > 1) violations.push(`${s}: QoS 0 ${pl} arrived ${n} times`);
      }
      for (const c of clients) if (c.malformed !== undefined) violations.push("a malformed stream from the board: " + c.malformed);
      const qos1 = want.length;
      const delivered = got.s1.size + got.s2.size;
      console.log(`  espruino: ${sent.size} messages (${qos1} QoS 1 acknowledged), ${delivered} distinct deliveries, ${violations.length} violations, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      assert.equal(violations.slice(0, 10), [], "violations");
      assert.ok(qos1 > perPublisher / 2 && delivered > perPublisher * 1.5, `${qos1} QoS 1, ${delivered} deliveries`);
      for (const s of ["s1", "s2"]) subs[s].end();
      await sleep(300);

      // ---- fuzz inputs from the corpus ----
      const inputs: Uint8Array[][] = [];
      for (const d of pickCorpus("parser", fuzzCount)) {
        const b = d.subarray(1);
        const cut = parserCut(b);
        inputs.push([b.subarray(0, cut), b.subarray(cut)]);
      }
      for (const d of pickCorpus("connection", fuzzCount)) inputs.push(programWrites(d));
      for (const writes of inputs) await hostile(port, writes);
      console.log(`  espruino: ${inputs.length} fuzz inputs sent, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      step(label + ": discarding the sessions");
      // the persistent sessions are discarded
      for (const s of ["s1", "s2"]) {
        const c = new Client(port);
        clients.push(c);
        await c.connect(s, true);
        c.end();
      }
      await sleep(1500);
      console.log(`  espruino: ${label} done, ${await used()} JsVars`);
    };
    // a first, short round: what any traffic creates once (routes, counters past 8,191, guard records) is not growth
    await round("warm-up round", 15, 2);
    const baseline = await used();
    console.log(`  espruino: flashed, warmed up: ${baseline} JsVars in use`);
    await round("soak and fuzz round 1", 120, 8);
    const mid = await used();
    await round("soak and fuzz round 2", 120, 8);
    // ---- still serving: a fresh client, its own QoS 1 message back ----
    const f = new Client(port);
    clients.push(f);
    await f.connect("fresh", true);
    await f.write(subscribeBytes(1, ["fresh/#"], [1]));
    await f.next((p) => p.type === SUBACK, 10000, "SUBACK");
    await f.write(publishBytes("fresh/x", "still-working", 1, false, 5));
    await f.next((p) => p.type === PUBACK, 10000, "PUBACK");
    const back = await f.next((p) => p.type === PUBLISH, 10000, "the fresh client's message");
    assert.is(back.payload, "still-working");
    f.end();

    // ---- memory: usage is back near the baseline ----
    await sleep(1000);
    const end = await used();
    console.log(`  espruino: JsVars after the warm-up round ${baseline}, after round 1 ${mid}, after round 2 ${end}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
    // no growth per round of traffic (round 1 may still take what a first long run creates once: $SYS, counters)
    assert.ok(Math.abs(end - mid) <= 20, `JsVars ${end} after round 2, ${mid} after round 1: grows with traffic`);
    assert.ok(end - baseline <= 120, `JsVars ${end}, ${end - baseline} above the warm-up round's ${baseline}`);
    assert.not.match(board.log() + con.output, /Uncaught|Out of Memory|New interpreter error/);
  } catch (e) {
    throw new Error(`${(e as Error).message}; the board printed: ${board.log().slice(-300)} ${con ? con.output.slice(-800) : ""}`);
  } finally {
    for (const c of clients) c.sock.destroy();
    if (con !== undefined) await Promise.race([con.close().catch(() => undefined), sleep(3000)]);
    await board.kill();
  }
});

test.run();
