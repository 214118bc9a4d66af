/**
 * One broker under test, in its own process: `ours` (the host-sim broker on
 * real TCP, host board profile and defaults, except 100 QoS 1/2 messages in
 * flight per client as the QoS 1 scenario's window), `aedes` (aedes 1.x on node:net,
 * its defaults) or `echo` (no broker: a Node server that frames packets and
 * sends each PUBLISH straight back to its sender, the floor of a ping-pong
 * through any Node server on node:net). Usage: broker.ts ours|aedes|echo PORT. Tells the parent
 * { ready, port } over IPC, then answers `heap` (forced GC, then
 * process.memoryUsage(); needs --expose-gc) until it is stopped.
 */
import * as net from "node:net";
import { CONNACK, CONNECT, PUBLISH, SUBACK, SUBSCRIBE } from "../../firmware/core/codec/constants";
import { writeRemainingLength } from "../../firmware/core/codec/encode";
import { PacketReader } from "../../firmware/core/codec/reader";
import { Bytes } from "../../firmware/core/platform";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { startBroker } from "../../host-sim/server";
import { LOOPBACK, serveRpc } from "./common";

type Closer = () => Promise<void>;

async function startOurs(port: number): Promise<Closer> {
  const config = defaultConfig(loadProfile("host"));
  config.listeners = [{ port, address: LOOPBACK }];
  // the QoS 1 scenario's window: 100 in flight end to end (host profile default: 20)
  config.profile.maxInflight = 100;
  const running = await startBroker(config);
  return () => running.close();
}

async function startAedes(port: number): Promise<Closer> {
  // aedes 1.x is an ES module: `await Aedes.createBroker()`, then its handle on a node:net server
  const { Aedes } = await import("aedes");
  const aedes = await Aedes.createBroker();
  const server = net.createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, LOOPBACK, () => resolve());
  });
  return () => new Promise<void>((resolve) => {
    server.close(() => aedes.close(() => resolve()));
  });
}

/** The floor: CONNACK, SUBACK, and every PUBLISH written back as it came, one write each. */
async function startEcho(port: number): Promise<Closer> {
  const alloc = { bytes: (n: number): Bytes => new Uint8Array(n) };
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const sink = {
      onPacket(first: number, buf: Bytes, off: number, len: number): number {
        const type = first >> 4;
        if (type === CONNECT) sock.write(Buffer.from([CONNACK * 16, 2, 0, 0]));
        else if (type === SUBSCRIBE) sock.write(Buffer.from([SUBACK * 16, 3, buf[off], buf[off + 1], 0]));
        else if (type === PUBLISH) {
          const out = Buffer.allocUnsafe(len + 5);
          out[0] = first;
          const n = 1 + writeRemainingLength(out, 1, len);
          out.set((buf as Uint8Array).subarray(off, off + len), n);
          sock.write(out.subarray(0, n + len));
        }
        return 0;
      },
    };
    const reader = new PacketReader(alloc, 1024 * 1024, 256, 256);
    sock.on("data", (chunk: Buffer) => { if (reader.feed(chunk, 0, chunk.length, sink) !== 0) sock.destroy(); });
    sock.on("error", () => { /* closed */ });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, LOOPBACK, () => resolve());
  });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

function heap(): Record<string, number> {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) {
    g();
    g();
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, gc: g !== undefined ? 1 : 0 };
}

async function main(): Promise<void> {
  const kind = process.argv[2];
  const port = Number(process.argv[3]);
  let close: Closer;
  if (kind === "ours") close = await startOurs(port);
  else if (kind === "aedes") close = await startAedes(port);
  else if (kind === "echo") close = await startEcho(port);
  else throw new Error("broker.ts: unknown broker " + kind);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // bounded: a broker that will not close is left behind by exiting
    setTimeout(() => process.exit(0), 2000).unref();
    await close();
    process.exit(0);
  };
  process.on("SIGTERM", () => { void stop(); });
  process.on("SIGINT", () => { void stop(); });
  serveRpc({
    heap: async () => heap(),
    stop: async () => { setImmediate(() => { void stop(); }); return true; },
  });
  if (process.send !== undefined) process.send({ ready: true, port, pid: process.pid });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
