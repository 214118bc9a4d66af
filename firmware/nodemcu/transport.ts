/**
 * Sending on NodeMCU, whose rule is one `conn:send` in flight: each
 * connection has a queue of packets (a bounded number of bytes), sent in
 * pieces of at most one TCP segment, the next one from the "sent" callback.
 */
import { Broker } from "../core/broker/broker";
import { Bytes, Transport } from "../core/platform";
import { bytesToLua } from "./bytes";
import { LuaTableLib, NetSocket, NodeModule } from "./nodemcu";

declare const node: NodeModule;
declare const table: LuaTableLib;

/** One TCP segment: NodeMCU's receive chunks are at most this, and sends are kept within it. */
const SEGMENT = 1460;

/** Post `fn` to run after the current callback (NodeMCU's task queue; the tick timer where there is none). */
function later(fn: (this: void) => void, pending: ((this: void) => void)[]): void {
  if (node.task !== undefined) node.task.post(fn);
  else pending.push(fn);
}

/** One client connection: its socket and its send queue (NodeMCU sends one piece at a time). */
export class SocketQueue {
  id: number;
  sock: NetSocket;
  /** Packets waiting, oldest first (strings: NodeMCU sends strings). */
  queue: string[] = [];
  /** Bytes queued plus the bytes of the send in flight. */
  bytes = 0;
  /** Length of the send in flight; 0 when none. */
  inFlight = 0;
  /** Close once everything queued is sent. */
  closing = false;
  /** Gone: the socket is closed or being closed, nothing more is sent. */
  dead = false;
  constructor(id: number, sock: NetSocket) {
    this.id = id;
    this.sock = sock;
  }
}

export class NodeMcuTransport implements Transport {
  links: { [key: string]: SocketQueue } = {};
  /** The same links keyed by their socket object (a Lua table key; typed as a string key for TypeScript). */
  bySock: { [sock: string]: SocketQueue } = {};
  broker: Broker | undefined = undefined;
  /** Per-connection bound on queued bytes: past it the client is too slow and is disconnected. */
  limit: number;
  pending: ((this: void) => void)[] = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    let link = this.links["c" + id];
    if (link === undefined || link.dead || link.closing || len <= 0) return false;
    if (link.bytes + len > this.limit) {
      this.drop(link);
      return false;
    }
    link.queue.push(bytesToLua(buf, off, len));
    link.bytes += len;
    if (link.inFlight === 0) this.pump(link);
    return true;
  }

  close(id: number): void {
    let link = this.links["c" + id];
    if (link === undefined) return;
    link.closing = true;
    if (link.inFlight === 0 && link.queue.length === 0) this.finish(link);
  }

  queued(id: number): number {
    let link = this.links["c" + id];
    return link === undefined ? 0 : link.bytes;
  }

  /** Start the next send: queued packets joined up to one segment, a larger one in segments. */
  pump(link: SocketQueue): void {
    if (link.inFlight > 0 || link.dead) return;
    let q = link.queue;
    if (q.length === 0) {
      if (link.closing) this.finish(link);
      return;
    }
    let first = q[0];
    let out: string;
    if (first.length >= SEGMENT) {
      out = first.substring(0, SEGMENT);
      if (first.length === SEGMENT) q.splice(0, 1);
      else q[0] = first.substring(SEGMENT);
    } else {
      let n = first.length;
      let j = 1;
      while (j < q.length && n + q[j].length <= SEGMENT) {
        n += q[j].length;
        j++;
      }
      // q is a Lua list: entries 1..j are the first j packets
      out = j === 1 ? first : table.concat(q, "", 1, j);
      q.splice(0, j);
    }
    link.inFlight = out.length;
    try {
      link.sock.send(out);
    } catch (e) {
      this.drop(link);
    }
  }

  /** The send in flight is done. */
  sent(link: SocketQueue): void {
    link.bytes -= link.inFlight;
    link.inFlight = 0;
    this.pump(link);
    // all sent: what waited for room in the broker (QoS 1/2, a retained replay) goes on
    if (link.bytes === 0 && !link.dead && !link.closing && this.broker !== undefined) this.broker.drained(link.id);
  }

  /** Queue drained after the broker asked to close: close the socket. */
  finish(link: SocketQueue): void {
    this.forget(link);
    try {
      link.sock.close();
    } catch (e) {
      // already closed
    }
  }

  forget(link: SocketQueue): void {
    link.dead = true;
    link.queue = [];
    if (this.links["c" + link.id] === link) delete this.links["c" + link.id];
    if (this.bySock[link.sock as unknown as string] === link) delete this.bySock[link.sock as unknown as string];
  }

  /** Over the queue bound or a failed send: close it after this callback, then tell the broker. */
  drop(link: SocketQueue): void {
    if (link.dead) return;
    this.forget(link);
    let b = this.broker;
    later(() => {
      try {
        link.sock.close();
      } catch (e) {
        // already closed
      }
      if (b !== undefined) b.closed(link.id);
    }, this.pending);
  }

  /** The peer went away (or NodeMCU reports our own close). */
  gone(link: SocketQueue): void {
    if (this.links["c" + link.id] !== link) return;
    this.forget(link);
    if (this.broker !== undefined) this.broker.closed(link.id);
  }

  runPending(): void {
    while (this.pending.length > 0) {
      let fn = this.pending[0];
      this.pending.splice(0, 1);
      fn();
    }
  }
}
