/**
 * `npm run bench:espruino`: delivered messages/s for 1 -> 1 QoS 0 with 64-byte
 * payloads through the firmware on the Espruino interpreter in
 * firmware/espruino/interpreter, and in the same run through relay.js there, a byte-forwarding
 * "broker" (no parsing) that bounds any broker inside that interpreter.
 * Prints both and the ratio. The load generator is raw TCP with pre-encoded
 * packets, so the client is not what limits the figure.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { encodeConnect, encodePublishString, encodeSubscribe } from "../../firmware/codec/encode";
import { flash } from "../flash";
import { DEFAULT_ESPRUINO, espruinoPath, killTree, startBoard } from "../lib/espruino-process";

const PAYLOAD = "p".repeat(64);
const WINDOW_MS = Number(process.env.BENCH_MS || 8000);

function packet(fill: (out: Uint8Array) => number): Buffer {
  const out = new Uint8Array(512);
  return Buffer.from(out.subarray(0, fill(out)));
}

const connect = (id: string) => packet((o) => encodeConnect(o, 0, {
  protocolName: "MQTT", protocolLevel: 4, clientId: id, cleanSession: true, keepalive: 0,
  username: undefined, password: undefined, willTopic: undefined, willMessage: undefined, willQos: 0, willRetain: false,
}));

function open(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
    s.setNoDelay(true);
  });
}

function waitBytes(s: net.Socket, n: number, ms = 10000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const t = setTimeout(() => reject(new Error(`no answer (${got.length}/${n} bytes)`)), ms);
    const on = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) {
        clearTimeout(t);
        s.off("data", on);
        resolve(got);
      }
    };
    s.on("data", on);
  });
}

/** Publish as fast as the socket takes it for WINDOW_MS; count PUBLISH packets arriving at the subscriber. */
export async function measure(port: number): Promise<{ delivered: number; sent: number; perSecond: number }> {
  const sub = await open(port);
  sub.write(connect("bench-sub"));
  await waitBytes(sub, 4);
  sub.write(packet((o) => encodeSubscribe(o, 0, 1, ["bench/t"], [0])));
  await waitBytes(sub, 5);
  const pub = await open(port);
  pub.write(connect("bench-pub"));
  await waitBytes(pub, 4);
  const one = packet((o) => encodePublishString(o, 0, "bench/t", PAYLOAD, 0, false, false, 0));
  const burst = Buffer.concat(Array.from({ length: 16 }, () => one));
  let bytes = 0;
  sub.on("data", (d: Buffer) => { bytes += d.length; });
  let sent = 0;
  const start = Date.now();
  const end = start + WINDOW_MS;
  while (Date.now() < end) {
    sent += 16;
    if (!pub.write(burst)) {
      // the board stopped reading: wait for it, but never past the window
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, end - Date.now()));
        pub.once("drain", () => { clearTimeout(t); r(); });
      });
    }
    // let the board breathe: a sender far ahead only fills socket buffers
    if (sent % 256 === 0) await new Promise((r) => setImmediate(r));
  }
  const elapsed = Date.now() - start;
  await new Promise((r) => setTimeout(r, 500));
  sub.destroy();
  pub.destroy();
  const delivered = Math.floor(bytes / one.length);
  return { delivered, sent, perSecond: Math.round((delivered * 1000) / elapsed) };
}

export async function benchEspruino(log: (l: string) => void = console.log): Promise<{ broker: number; relay: number; ratio: number }> {
  // the firmware, flashed as on a board
  const board = await startBoard("telnet");
  let broker: { perSecond: number; delivered: number; sent: number };
  try {
    const up = await flash({ port: "tcp://127.0.0.1:2323", board: "espruino-linux", out: () => {} });
    broker = await measure(up.port);
  } finally {
    await board.kill();
  }
  // relay.js from the in-repo interpreter folder, in a fresh interpreter
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "espruino-relay-"));
  const relayJs = path.join(path.dirname(DEFAULT_ESPRUINO), "relay.js");
  const proc = spawn(espruinoPath(), [relayJs], { cwd: dir, stdio: ["pipe", "pipe", "pipe"], detached: true });
  let relay: { perSecond: number; delivered: number; sent: number };
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const t = setTimeout(() => reject(new Error(`relay.js did not start: ${out}`)), 30000);
      proc.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.indexOf("relay listening") >= 0) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    relay = await measure(1884);
  } finally {
    await killTree(proc, dir);
  }
  const ratio = relay.perSecond > 0 ? broker.perSecond / relay.perSecond : 0;
  log(`espruino 1->1 QoS 0, 64-byte payloads, ${WINDOW_MS} ms window (interpreter under ${os.arch() === "x64" ? "qemu-i386" : os.arch()}):`);
  log(`  firmware: ${broker.perSecond} msg/s delivered (${broker.delivered} of ${broker.sent} sent)`);
  log(`  relay.js: ${relay.perSecond} msg/s delivered (${relay.delivered} of ${relay.sent} sent)`);
  log(`  ratio firmware/relay: ${ratio.toFixed(2)}x (goal 0.5x)`);
  return { broker: broker.perSecond, relay: relay.perSecond, ratio };
}

if (require.main === module) {
  benchEspruino().then(() => process.exit(0), (e) => {
    console.error(`bench:espruino: ${(e as Error).message}`);
    process.exit(1);
  });
}
