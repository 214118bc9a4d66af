/**
 * The load generator, in its own process so it never shares a core's event
 * loop with the broker it drives. Raw TCP to 127.0.0.1 only, packets encoded
 * once up front with the firmware's encoders (firmware/core/codec/encode.ts) and
 * framed on the way back with PacketReader, so the client stays cheap and the
 * same for every broker. Every run is bounded in time and closes what it opened.
 *
 * Commands (IPC from run.ts / memory.ts):
 *   run { port, spec, tag, pid }       one scenario -> ScenarioResult (pid: the broker's, for its CPU use)
 *   open { port, count, tag, subs }    open `count` idle clients, each subscribed to `subs` filters
 *   subscribe { count, tag }           each client opened by `open` subscribes to `count` more filters
 *   retain { port, count, tag, payload } publish `count` retained messages on distinct topics
 *   closeAll {}                        close every client opened by `open` / `retain`
 */
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { performance } from "node:perf_hooks";
import { CONNACK, ERR_NONE, PINGRESP, PUBACK, PUBLISH, SUBACK } from "../../firmware/core/codec/constants";
import {
  encodeConnect, encodePingreq, encodePublishString, encodeSubscribe, publishSize,
} from "../../firmware/core/codec/encode";
import { PacketReader, PacketSink } from "../../firmware/core/codec/reader";
import { Bytes } from "../../firmware/core/platform";
import { LOOPBACK, ScenarioResult, ScenarioSpec, percentile, serveRpc, sleep, withTimeout } from "./common";

const alloc = { bytes: (n: number): Bytes => new Uint8Array(n) };
/** How long any single protocol step (CONNACK, SUBACK, PINGRESP) may take. */
const STEP_MS = 10000;

interface Waiter {
  type: number;
  resolve: () => void;
}

/** One raw MQTT client: a socket, a reader, counters, and waits for a reply type. */
class Client implements PacketSink {
  sock: net.Socket;
  reader = new PacketReader(alloc, 16 * 1024 * 1024, 1024, 1024);
  /** PUBLISH packets received. */
  received = 0;
  /** PUBACK packets received (for our QoS 1 publishes). */
  acked = 0;
  /** Answer each QoS 1 PUBLISH with a PUBACK (a QoS 1 subscriber). */
  ackQos1 = false;
  onPublish: ((buf: Bytes, off: number, len: number) => void) | undefined = undefined;
  onData: (() => void) | undefined = undefined;
  private waiters: Waiter[] = [];
  private ackBuf = Buffer.allocUnsafe(64 * 1024);
  private ackLen = 0;
  closed = false;

  constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on("data", (chunk: Buffer) => {
      this.reader.feed(chunk, 0, chunk.length, this);
      if (this.ackLen > 0) {
        this.sock.write(Buffer.from(this.ackBuf.subarray(0, this.ackLen)));
        this.ackLen = 0;
      }
      if (this.onData !== undefined) this.onData();
    });
    sock.on("error", () => { /* close follows */ });
    sock.on("close", () => { this.closed = true; });
  }

  static open(port: number, clientId: string, keepalive = 0): Promise<Client> {
    return withTimeout(new Promise<Client>((resolve, reject) => {
      const sock = net.connect(port, LOOPBACK);
      sock.once("error", reject);
      sock.once("connect", () => {
        const c = new Client(sock);
        const connack = c.expect(CONNACK);
        const out = Buffer.allocUnsafe(64 + clientId.length);
        const n = encodeConnect(out, 0, {
          protocolName: "MQTT", protocolLevel: 4, clientId, cleanSession: true, keepalive,
          username: undefined, password: undefined, willTopic: undefined, willMessage: undefined,
          willQos: 0, willRetain: false,
        });
        sock.write(out.subarray(0, n));
        connack.then(() => { sock.off("error", reject); resolve(c); });
      });
    }), "CONNACK for " + clientId, STEP_MS);
  }

  onPacket(first: number, buf: Bytes, off: number, len: number): number {
    const type = first >> 4;
    if (type === PUBLISH) {
      this.received++;
      if (this.ackQos1 && (first & 6) === 2) {
        // QoS 1: the packet id follows the topic
        const idOff = off + 2 + buf[off] * 256 + buf[off + 1];
        const a = this.ackLen;
        if (a + 4 > this.ackBuf.length) return ERR_NONE;
        this.ackBuf[a] = 0x40;
        this.ackBuf[a + 1] = 2;
        this.ackBuf[a + 2] = buf[idOff];
        this.ackBuf[a + 3] = buf[idOff + 1];
        this.ackLen = a + 4;
      }
      if (this.onPublish !== undefined) this.onPublish(buf, off, len);
      return ERR_NONE;
    }
    if (type === PUBACK) {
      this.acked++;
      return ERR_NONE;
    }
    for (let i = 0; i < this.waiters.length; i++) {
      if (this.waiters[i].type === type) {
        const w = this.waiters[i];
        this.waiters.splice(i, 1);
        w.resolve();
        break;
      }
    }
    return ERR_NONE;
  }

  expect(type: number): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ type, resolve }));
  }

  async subscribe(filters: string[], qos: number): Promise<void> {
    let size = 8;
    for (const f of filters) size += 3 + f.length;
    const out = Buffer.allocUnsafe(size);
    const n = encodeSubscribe(out, 0, 1, filters, filters.map(() => qos));
    const suback = this.expect(SUBACK);
    this.sock.write(out.subarray(0, n));
    await withTimeout(suback, "SUBACK", STEP_MS);
  }

  /** PINGREQ and wait for PINGRESP: everything sent before has been handled by the broker. */
  async barrier(): Promise<void> {
    const out = Buffer.allocUnsafe(2);
    encodePingreq(out, 0);
    const resp = this.expect(PINGRESP);
    this.sock.write(out);
    await withTimeout(resp, "PINGRESP", STEP_MS);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** Open `count` clients, `parallel` at a time, each subscribed to `subs` filters of its own. */
async function openMany(port: number, count: number, tag: string, subs: number): Promise<Client[]> {
  const out: Client[] = [];
  const parallel = 50;
  for (let i = 0; i < count; i += parallel) {
    const batch: Promise<Client>[] = [];
    for (let j = i; j < i + parallel && j < count; j++) {
      batch.push((async () => {
        const c = await Client.open(port, tag + "-" + j);
        if (subs > 0) {
          // at most 100 filters per SUBSCRIBE
          for (let k = 0; k < subs; k += 100) {
            const filters: string[] = [];
            for (let m = k; m < k + 100 && m < subs; m++) filters.push("idle/" + tag + "/" + j + "/" + m);
            await c.subscribe(filters, 0);
          }
        }
        return c;
      })());
    }
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** A binary string of `n` bytes. */
function payloadOf(n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + (i % 26));
  return s;
}

// ---- CPU use, to tell who was the bottleneck ----

/** CPU seconds (user + system) a process has used, from /proc; -1 when unreadable. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync("/proc/" + pid + "/stat", "utf8");
    // fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15
    const rest = stat.substring(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch (_) {
    return -1;
  }
}

/** Measures the broker's and this process's CPU over the measuring window. */
class CpuWindow {
  b0: number;
  l0: NodeJS.CpuUsage;
  t0 = performance.now();
  constructor(public brokerPid: number) {
    this.b0 = brokerPid > 0 ? cpuSeconds(brokerPid) : -1;
    this.l0 = process.cpuUsage();
  }
  /** Fractions of one core: { broker, loadgen } (broker -1 when unknown). */
  end(): { brokerCpu: number; loadgenCpu: number } {
    const secs = (performance.now() - this.t0) / 1000;
    const b1 = this.brokerPid > 0 ? cpuSeconds(this.brokerPid) : -1;
    const l = process.cpuUsage(this.l0);
    return {
      brokerCpu: this.b0 >= 0 && b1 >= 0 ? (b1 - this.b0) / secs : -1,
      loadgenCpu: (l.user + l.system) / 1e6 / secs,
    };
  }
}

// ---- scenarios ----

async function runThroughput(port: number, spec: ScenarioSpec, tag: string, brokerPid: number): Promise<ScenarioResult> {
  const idle = await openMany(port, spec.idle, tag + "-idle", spec.idle > 0 ? 1 : 0);
  const topic = "bench/" + tag;
  const subs: Client[] = [];
  const pub = await Client.open(port, tag + "-pub");
  try {
    for (let i = 0; i < spec.subscribers; i++) {
      const c = await Client.open(port, tag + "-sub" + i);
      c.ackQos1 = spec.qos === 1;
      await c.subscribe([topic], spec.qos);
      subs.push(c);
    }

    // the publisher's bytes, encoded once: `batch` PUBLISH packets back to back
    const msgLen = publishSize(topic.length, spec.payload, spec.qos);
    const template = Buffer.alloc(msgLen * spec.batch);
    const payload = payloadOf(spec.payload);
    for (let i = 0; i < spec.batch; i++) {
      encodePublishString(template, i * msgLen, topic, payload, spec.qos, false, false, 1);
    }
    // packet id offset inside one message (QoS 1): after the fixed header and topic
    const idOff = msgLen - spec.payload - 2;

    let sent = 0;
    let nextId = 1;
    let lost = 0;
    let running = true;
    const qos1 = spec.qos === 1;
    const minDelivered = (): number => {
      let m = subs[0].received;
      for (let i = 1; i < subs.length; i++) if (subs[i].received < m) m = subs[i].received;
      return m;
    };
    const done = (): number => {
      const d = minDelivered();
      return qos1 && pub.acked < d ? pub.acked : d;
    };
    const delivered = (): number => {
      let t = 0;
      for (const s of subs) t += s.received;
      return t;
    };
    const pump = (): void => {
      while (running) {
        const free = spec.window - (sent - done());
        const k = free < spec.batch ? free : spec.batch;
        if (k < spec.minBatch) return;
        if (!qos1) {
          // the same bytes every time: nothing to patch
          pub.sock.write(k === spec.batch ? template : template.subarray(0, k * msgLen));
        } else {
          const b = Buffer.allocUnsafe(k * msgLen);
          template.copy(b, 0, 0, k * msgLen);
          for (let j = 0; j < k; j++) {
            b[j * msgLen + idOff] = nextId >> 8;
            b[j * msgLen + idOff + 1] = nextId & 255;
            nextId = nextId >= 65535 ? 1 : nextId + 1;
          }
          pub.sock.write(b);
        }
        sent += k;
      }
    };
    for (const s of subs) s.onData = pump;
    pub.onData = pump;

    // a broker that drops messages would stall the window: count them lost and go on
    let lastProgress = -1;
    let stalledSince = performance.now();
    const watchdog = setInterval(() => {
      const p = delivered() + pub.acked;
      const now = performance.now();
      if (p !== lastProgress) {
        lastProgress = p;
        stalledSince = now;
        return;
      }
      if (now - stalledSince > 300 && sent - done() > 0) {
        lost += sent - done();
        sent = done();
        stalledSince = now;
        pump();
      }
    }, 50);

    pump();
    await sleep(spec.warmupMs);
    const d0 = delivered();
    const t0 = performance.now();
    const cpu = new CpuWindow(brokerPid);
    await sleep(spec.measureMs);
    const d1 = delivered();
    const t1 = performance.now();
    const use = cpu.end();
    running = false;
    clearInterval(watchdog);
    const seconds = (t1 - t0) / 1000;
    return { delivered: d1 - d0, seconds, rate: (d1 - d0) / seconds, lost, ...use };
  } finally {
    pub.destroy();
    for (const s of subs) s.destroy();
    for (const c of idle) c.destroy();
    // let the broker see the closes before the next scenario
    await sleep(150);
  }
}

async function runLatency(port: number, spec: ScenarioSpec, tag: string, brokerPid: number): Promise<ScenarioResult> {
  const topic = "bench/" + tag;
  const c = await Client.open(port, tag + "-ping");
  try {
    await c.subscribe([topic], 0);
    const size = publishSize(topic.length, spec.payload, 0);
    const packet = Buffer.alloc(size);
    encodePublishString(packet, 0, topic, payloadOf(spec.payload), 0, false, false, 0);
    const cap = 500000;
    const samples = new Float64Array(cap);
    let n = 0;
    let measuring = false;
    let running = true;
    let sentAt = 0;
    let trips = 0;
    c.onPublish = () => {
      const now = performance.now();
      if (measuring && n < cap) samples[n++] = now - sentAt;
      trips++;
      if (!running) return;
      sentAt = performance.now();
      c.sock.write(packet);
    };
    sentAt = performance.now();
    c.sock.write(packet);
    await sleep(spec.warmupMs);
    measuring = true;
    const trips0 = trips;
    const t0 = performance.now();
    const cpu = new CpuWindow(brokerPid);
    await sleep(spec.measureMs);
    measuring = false;
    running = false;
    const t1 = performance.now();
    const use = cpu.end();
    const sorted = samples.subarray(0, n).sort();
    const seconds = (t1 - t0) / 1000;
    return {
      delivered: trips - trips0, seconds, rate: (trips - trips0) / seconds, lost: 0,
      p50Us: percentile(sorted, 50) * 1000, p99Us: percentile(sorted, 99) * 1000, ...use,
    };
  } finally {
    c.destroy();
    await sleep(100);
  }
}

// ---- standing clients for the memory benchmark ----

let standing: Client[] = [];
/** The clients `open` made, in order (`subscribe` works on these). */
let opened: Client[] = [];

async function publishRetained(port: number, count: number, tag: string, payload: number): Promise<void> {
  const c = await Client.open(port, tag + "-retain");
  standing.push(c);
  const body = payloadOf(payload);
  const chunk = 500;
  for (let i = 0; i < count; i += chunk) {
    let size = 0;
    const topics: string[] = [];
    for (let j = i; j < i + chunk && j < count; j++) {
      const t = "retain/" + tag + "/" + j;
      topics.push(t);
      size += publishSize(t.length, payload, 0);
    }
    const out = Buffer.allocUnsafe(size);
    let p = 0;
    for (const t of topics) p += encodePublishString(out, p, t, body, 0, true, false, 0);
    c.sock.write(out);
    // a PINGRESP after them: the broker has taken every one
    await c.barrier();
  }
}

serveRpc({
  run: async (msg) => {
    const spec = msg.spec as ScenarioSpec;
    const port = msg.port as number;
    const tag = msg.tag as string;
    const limit = spec.warmupMs + spec.measureMs + 30000;
    const pid = typeof msg.pid === "number" ? msg.pid : -1;
    const p = spec.kind === "latency" ? runLatency(port, spec, tag, pid) : runThroughput(port, spec, tag, pid);
    return withTimeout(p, spec.key + " on port " + port, limit);
  },
  open: async (msg) => {
    const list = await openMany(msg.port as number, msg.count as number, msg.tag as string, msg.subs as number);
    standing.push(...list);
    opened.push(...list);
    return list.length;
  },
  subscribe: async (msg) => {
    const count = msg.count as number;
    const tag = msg.tag as string;
    const parallel = 50;
    for (let i = 0; i < opened.length; i += parallel) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < i + parallel && j < opened.length; j++) {
        const filters: string[] = [];
        for (let m = 0; m < count; m++) filters.push("mem/" + tag + "/" + j + "/" + m + "/+");
        batch.push(opened[j].subscribe(filters, 1));
      }
      await Promise.all(batch);
    }
    return opened.length * count;
  },
  retain: async (msg) => {
    await publishRetained(msg.port as number, msg.count as number, msg.tag as string, msg.payload as number);
    return true;
  },
  closeAll: async () => {
    for (const c of standing) c.destroy();
    const n = standing.length;
    standing = [];
    opened = [];
    await sleep(200);
    return n;
  },
});
if (process.send !== undefined) process.send({ ready: true, pid: process.pid });
