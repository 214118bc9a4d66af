import { Allocator, Bytes } from "../platform";
import { text } from "./text";
import { ERR_MALFORMED, ERR_NONE, ERR_TOO_LARGE, MAX_REMAINING_LENGTH } from "./constants";

/** Receives each complete packet; returns an error code (ERR_NONE to go on). */
export interface PacketSink {
  onPacket(first: number, buf: Bytes, off: number, len: number): number;
}

/** Between packets: what a reader is in when it holds no partial packet. */
const STATE_HEADER = 0;
const STATE_LENGTH = 1;
/** Gathering a body: `remaining - have` bytes still to come. */
const STATE_BODY = 2;

/**
 * Frames an MQTT byte stream into packets, accepting input split at any byte.
 * A packet wholly inside the chunk being fed is handed over in place (no copy);
 * only a packet split across chunks is gathered in this reader's own buffer,
 * which starts small and grows by doubling with the bytes that actually
 * arrive (never with what a header claims), up to the packet limit. Packets are reported as offsets, never as new objects.
 */
export class PacketReader {
  state = STATE_HEADER;
  first = 0;
  remaining = 0;
  /**
   * Body bytes gathered so far; while the fixed header is read, the place
   * value of the next length byte. One field for both: a Lua table past 8
   * keys doubles its hash part, which cost NodeMCU 200 bytes a connection.
   * (Counting the length bytes in `state` instead, 528f07b, made a board's
   * SUBSCRIBE with 4 retained messages answer in 59-71 ms against 48-49,
   * in `BENCH_ONLY=answers npm run bench:espruino`, for no reason found in
   * its code: so it went back.)
   */
  have = 1;
  buf: Bytes | undefined = undefined;
  maxPacket: number;
  initialSize: number;
  /** A grown buffer up to this size is kept for the next split packet; a larger one is dropped. */
  keepSize: number;
  alloc: Allocator;

  constructor(alloc: Allocator, maxPacket: number, initialSize: number, keepSize: number) {
    this.alloc = alloc;
    this.maxPacket = maxPacket;
    this.initialSize = initialSize;
    this.keepSize = keepSize;
  }

  /** Feed bytes; returns ERR_NONE or the error that must close the connection. */
  feed(src: Bytes, off: number, len: number, sink: PacketSink): number {
    let end = off + len;
    let i = off;
    while (i < end) {
      let state = this.state;
      if (state === STATE_HEADER) {
        this.first = src[i++];
        this.remaining = 0;
        this.have = 1;
        this.state = STATE_LENGTH;
      } else if (state === STATE_LENGTH) {
        let b = src[i++];
        this.remaining += (b % 128) * this.have;
        if (b >= 128) {
          this.have *= 128;
          // at most four length bytes [MQTT-2.2.3]
          if (this.have > 2097152) return ERR_MALFORMED;
          continue;
        }
        if (this.remaining > MAX_REMAINING_LENGTH) return ERR_MALFORMED;
        // the whole packet, fixed header included, must fit the limit
        const r = this.remaining;
        if (r + (r < 128 ? 2 : r < 16384 ? 3 : r < 2097152 ? 4 : 5) > this.maxPacket) return ERR_TOO_LARGE;
        if (this.remaining === 0) {
          this.state = STATE_HEADER;
          let e0 = sink.onPacket(this.first, src, i, 0);
          if (e0 !== ERR_NONE) return e0;
          continue;
        }
        if (end - i >= this.remaining) {
          // whole body in this chunk: hand it over in place
          let bodyOff = i;
          i += this.remaining;
          this.state = STATE_HEADER;
          let e1 = sink.onPacket(this.first, src, bodyOff, this.remaining);
          if (e1 !== ERR_NONE) return e1;
          continue;
        }
        this.have = 0;
        this.state = STATE_BODY;
      } else {
        let want = this.remaining - this.have;
        let take = end - i < want ? end - i : want;
        let h = this.have;
        // grow with what has arrived, not with what the header claims
        let dst = this.ensure(h + take);
        text.copy(dst, h, src, i, take);
        i += take;
        this.have = h + take;
        if (this.have === this.remaining) {
          this.state = STATE_HEADER;
          // a buffer grown past keepSize for one large packet is not kept: it would pin that memory
          if (dst.length > this.keepSize) this.buf = undefined;
          let e2 = sink.onPacket(this.first, dst, 0, this.remaining);
          if (e2 !== ERR_NONE) return e2;
        }
      }
    }
    return ERR_NONE;
  }


  /** 0 between packets, -1 inside a fixed header, else how many body bytes are still to come. */
  awaiting(): number {
    let state = this.state;
    return state === STATE_HEADER ? 0 : state === STATE_BODY ? this.remaining - this.have : -1;
  }


  private ensure(size: number): Bytes {
    let cur = this.buf;
    if (cur !== undefined && cur.length >= size) return cur;
    let n = cur === undefined ? this.initialSize : cur.length;
    while (n < size) n = n * 2;
    if (n > this.maxPacket) n = this.maxPacket;
    let next = this.alloc.bytes(n);
    if (cur !== undefined) text.copy(next, 0, cur, 0, this.have);
    this.buf = next;
    return next;
  }

}
