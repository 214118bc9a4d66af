import { Broker } from "../firmware/core/broker/broker";

/** First outgoing buffer of a turn when the connection sent nothing last turn. */
const MIN_PENDING = 256;
/** Largest outgoing buffer kept as the size hint for the next turn. */
const MAX_HINT = 64 * 1024;
/** Below this many bytes a plain loop copies faster than TypedArray.set. */
const SMALL_COPY = 32;

/** One connection and the bytes the core sent it during this event-loop turn. */
export class Outbox {
  id: number;
  /** Bytes queued this turn, pending[0, pendingLen), written in one piece at the end of the turn. */
  pending: Buffer | undefined = undefined;
  pendingLen = 0;
  /** What the last turn wrote: the next turn's first buffer is this big, so a busy link rarely grows. */
  hint = MIN_PENDING;
  dirty = false;
  constructor(id: number) {
    this.id = id;
  }
}

/**
 * The desktop transports' way out (TCP and WebSockets): everything the core
 * sends one connection during an event-loop turn is copied into one buffer
 * and handed to `write` once, at the end of the turn (setImmediate): one
 * syscall and one stream request per connection per burst, however many
 * packets (mosquitto's packet queue, without a write per packet). The buffer
 * is sized from the previous turn, so a busy connection allocates one buffer
 * per turn and an idle one holds none.
 */
export class Outboxes<L extends Outbox> {
  private dirty: L[] = [];
  private flushScheduled = false;
  private flushBound = () => this.flush();
  /** Writes one turn's bytes to the link's stream; the buffer is handed over, never touched again. */
  private write: (link: L, bytes: Buffer) => void;

  constructor(write: (link: L, bytes: Buffer) => void) {
    this.write = write;
  }

  /** Copy `len` bytes into the link's buffer of this turn. */
  append(link: L, src: Uint8Array, off: number, len: number): void {
    let out = link.pending;
    const at = link.pendingLen;
    if (out === undefined || at + len > out.length) out = grow(link, len);
    if (len <= SMALL_COPY) {
      for (let i = 0; i < len; i++) out[at + i] = src[off + i];
    } else {
      out.set(src.subarray(off, off + len), at);
    }
    link.pendingLen = at + len;
    if (!link.dirty) {
      link.dirty = true;
      this.dirty.push(link);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushBound);
      }
    }
  }

  /** The link's bytes of this turn, taken now (a close writes them first); undefined when none. */
  take(link: L): Buffer | undefined {
    const out = link.pending;
    const n = link.pendingLen;
    link.dirty = false;
    link.pending = undefined;
    link.pendingLen = 0;
    if (out === undefined || n === 0) return undefined;
    link.hint = n < MIN_PENDING ? MIN_PENDING : n > MAX_HINT ? MAX_HINT : n;
    return n === out.length ? out : out.subarray(0, n);
  }

  /** Forget every pending turn (the transport is shutting down). */
  clear(): void {
    this.dirty = [];
  }

  /** Each connection's bytes of this turn, one write per connection. */
  private flush(): void {
    this.flushScheduled = false;
    const list = this.dirty;
    this.dirty = [];
    for (let i = 0; i < list.length; i++) {
      const bytes = this.take(list[i]);
      if (bytes !== undefined) this.write(list[i], bytes);
    }
  }
}

/** A buffer with room for `len` more bytes: the old one's contents carried over. */
function grow(link: Outbox, len: number): Buffer {
  const old = link.pending;
  const used = link.pendingLen;
  let size = old === undefined ? link.hint : old.length * 2;
  while (size < used + len) size *= 2;
  const next = Buffer.allocUnsafe(size);
  if (old !== undefined && used > 0) old.copy(next, 0, 0, used);
  link.pending = next;
  return next;
}

/**
 * Run a broker call for one connection: whatever it throws ends that
 * connection (`drop` cuts it), never the process. The broker's own checks
 * should make this unreachable; it is the last line, logged so it gets fixed.
 */
export function guardedCall(broker: Broker, id: number, call: () => void, drop: () => void): void {
  try {
    call();
  } catch (err) {
    broker.log("error on connection " + id + ", closed: " + (err instanceof Error ? err.stack || err.message : String(err)));
    drop();
    try {
      broker.closed(id);
    } catch (again) {
      // the broker could not even forget it: the connection is gone all the same
    }
  }
}
