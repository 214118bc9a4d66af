/**
 * The Espruino adapter's receive path (firmware/espruino/receive.ts) on the
 * simulated network: what firmware/espruino/main.ts does for each socket,
 * on Node. Every chunk a SimSocket delivers reaches the broker as a binary
 * string through receive() (the fast path for a publisher's repeated QoS 0
 * packets, the shared receive buffer into the parser for the rest), and the
 * fast path's raw writes go back through the simulated sockets, so soak and
 * fuzz runs on host-sim/sim.ts check the same invariants through it.
 *
 * The transport is main.ts's NetTransport in shape (sockets by "s" + id, the
 * bytes each has queued), but what it reports as queued is what the
 * simulated client has not read (SimNetwork.queued): main.ts reports 0
 * unless the pool is over its memory budget, which has no meaning on Node.
 * "Congested" (main.ts: the pool over budget; QoS 0 takes the parser's way)
 * is drawn from a seeded generator, so both ways run.
 */
import { Broker } from "../../firmware/core/broker/broker";
import { Connection } from "../../firmware/core/broker/connection";
import { receive, Receiver } from "../../firmware/espruino/receive";
import { Bytes, Transport } from "../../firmware/core/platform";
import { seededRandom, SimNetwork } from "../../host-sim/sim";

/** main.ts's shared receive buffer size. */
export const ESPRUINO_CHUNK = 256;

/** Espruino's Uint8Array.set(binaryString, offset), which Node's does not have. */
export function espruinoChunk(size: number): Bytes {
  const chunk = new Uint8Array(size) as Uint8Array & { set: (s: unknown, off?: number) => void };
  const set = Uint8Array.prototype.set;
  chunk.set = (s: unknown, off = 0) => {
    if (typeof s !== "string") return set.call(chunk, s as ArrayLike<number>, off);
    for (let i = 0; i < s.length; i++) chunk[off + i] = s.charCodeAt(i);
  };
  return chunk;
}

export interface ReceiveStats {
  /** receive() calls, and how many of them were congested. */
  calls: number;
  congested: number;
  /** Strings written by the fast path, and their bytes. */
  rawWrites: number;
  rawBytes: number;
}

export interface ReceivePath {
  /** The broker's transport: construct the Broker with it, then attach(). */
  transport: Transport;
  attach(b: Broker): void;
  stats: ReceiveStats;
}

/**
 * A receive path over `net` for one broker (a restarted broker gets a new
 * one). `congestedShare`: the share of receive() calls made congested.
 */
export function receivePath(net: SimNetwork, seed: number, congestedShare = 0.1, stats?: ReceiveStats, rawFilter?: (s: string) => string): ReceivePath {
  const st: ReceiveStats = stats ?? { calls: 0, congested: 0, rawWrites: 0, rawBytes: 0 };
  const rand = seededRandom(seed);
  const socks: { socks: { [key: string]: { write(s: string): void } }; queue: { [key: string]: number }; written: number } = { socks: {}, queue: {}, written: 0 };
  const rx: { [key: string]: Receiver } = {};
  const chunk = espruinoChunk(ESPRUINO_CHUNK);
  const transport: Transport = {
    send(id: number, buf: Bytes, off: number, len: number): boolean {
      if (socks.socks["s" + id] === undefined) return false;
      if (!net.send(id, buf, off, len)) return false;
      socks.queue["s" + id] += len;
      return true;
    },
    close(id: number): void {
      if (socks.socks["s" + id] === undefined) return;
      delete socks.socks["s" + id];
      net.close(id);
    },
    queued(id: number): number {
      return net.queued(id);
    },
  };
  let broker: Broker | undefined;
  const proxy = {
    accept(remote: string): number {
      const b = broker!;
      const id = b.accept(remote);
      socks.queue["s" + id] = 0;
      socks.socks["s" + id] = {
        // a socket's write on Espruino: a binary string, appended to its buffer
        write(raw: string): void {
          // tests break the fast path on purpose through rawFilter
          const s = rawFilter !== undefined ? rawFilter(raw) : raw;
          st.rawWrites++;
          st.rawBytes += s.length;
          const bytes = Buffer.from(s, "latin1");
          net.send(id, bytes, 0, bytes.length);
        },
      };
      rx["r" + id] = { conn: b.connection(id) as Connection, pend: "", inside: false };
      return id;
    },
    data(id: number, buf: Bytes, off: number, len: number): void {
      const r = rx["r" + id];
      if (r === undefined) return;
      const d = Buffer.from(buf as Uint8Array).subarray(off, off + len).toString("latin1");
      const congested = congestedShare > 0 && rand() < congestedShare;
      st.calls++;
      if (congested) st.congested++;
      receive(broker!, socks, r, d, chunk, congested);
    },
    drained(id: number): void {
      // main.ts's onDrain (a simulated socket's resume): nothing queued, the broker may send what waited
      socks.queue["s" + id] = 0;
      const d = (broker as unknown as { drained?: (id: number) => void }).drained;
      if (d !== undefined) d.call(broker, id);
    },
    closed(id: number): void {
      // main.ts's onClose: forget the socket and its Receiver, then tell the broker
      delete socks.socks["s" + id];
      delete socks.queue["s" + id];
      delete rx["r" + id];
      broker!.closed(id);
    },
  };
  return {
    transport,
    stats: st,
    attach(b: Broker): void {
      broker = b;
      net.attach(proxy as unknown as Broker);
    },
  };
}
