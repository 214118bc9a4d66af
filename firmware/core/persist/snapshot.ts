import type { BrokerState } from "../broker/state";
import { StoredMessage } from "../message";

import { AWAIT_PUBACK, AWAIT_PUBCOMP, InFlight, Queued, Session } from "../session/session";
import { retainedSet } from "../retain/store";
import { allSessions, createSession, findSession } from "../session/registry";
import { text } from "../codec/text";

/**
 * Retained messages and persistent sessions as one binary string, written
 * whole and checked whole: a magic, the body length, the body, and a
 * checksum. A torn or damaged file fails the check and is ignored at boot, so
 * the broker comes back with the old state or the new one, never half of one.
 *
 * Each exported function keeps its helpers inside it: on Espruino a function
 * at module level costs JsVars for as long as the broker runs, a nested one
 * only while its parent runs, and these run once a boot or once a save.
 */
const MAGIC = "EMQ1";
const REC_RETAINED = 82; // "R"
const REC_SESSION = 83; // "S"

/** Adler-style sum, integer arithmetic only. */
function checksum(s: string, from: number, to: number): number {
  let a = 1;
  let b = 0;
  for (let i = from; i < to; i++) {
    a = (a + s.charCodeAt(i)) % 65521;
    b = (b + a) % 65521;
  }
  return b * 65536 + a;
}

function readU32(s: string, at: number): number {
  return ((s.charCodeAt(at) * 256 + s.charCodeAt(at + 1)) * 256 + s.charCodeAt(at + 2)) * 256 + s.charCodeAt(at + 3);
}

/** @cold 270 */
export function serializeState(b: BrokerState): string {
  const u16 = (n: number): string => String.fromCharCode(Math.floor(n / 256) % 256, n % 256);
  const u32 = (n: number): string => u16(Math.floor(n / 65536)) + u16(n % 65536);
  const str = (s: string): string => u16(s.length) + s;
  const message = (msg: StoredMessage): string =>
    // topic and payload as they are stored: one buffer, topic first
    u16(msg.topicLen) + text.str(msg.data, 0, msg.topicLen) + u32(msg.payloadLen) +
    text.str(msg.data, msg.topicLen, msg.payloadLen) + String.fromCharCode(msg.qos);

  let body = "";
  const retained = b.retained.list;
  for (let i = 0; i < retained.length; i++) body += String.fromCharCode(REC_RETAINED) + message(retained[i]);
  const sessions = allSessions(b.sessions);
  for (let k = 0; k < sessions.length; k++) {
    const s = sessions[k];
    if (s.clean) continue;
    let rec = String.fromCharCode(REC_SESSION) + str(s.clientId) + u16(s.nextPacketId) + u16(s.filters.length);
    for (let f = 0; f < s.filters.length; f++) rec += str(s.filters[f]) + String.fromCharCode(s.filterQos[f]);
    rec += u16(s.inflight.length);
    for (let j = 0; j < s.inflight.length; j++) {
      const fl = s.inflight[j];
      rec += u16(fl.packetId) + String.fromCharCode(fl.qos, fl.state, fl.retain ? 1 : 0) + message(fl.msg);
    }
    rec += u16(s.queue.length);
    for (let q = 0; q < s.queue.length; q++) {
      const qu = s.queue[q];
      rec += String.fromCharCode(qu.qos, qu.retain ? 1 : 0) + message(qu.msg);
    }
    rec += u16(s.incomingQos2.length);
    for (let r = 0; r < s.incomingQos2.length; r++) rec += u16(s.incomingQos2[r]);
    body += rec;
  }
  return MAGIC + u32(body.length) + body + u32(checksum(body, 0, body.length));
}

/**
 * The checksum a snapshot ends with: what a save compares with the last one's to tell a changed state.
 * @cold 300
 */
export function snapshotSum(data: string): number {
  return data.length < 12 ? -1 : readU32(data, data.length - 4);
}

/**
 * True when `data` is a whole, undamaged state file.
 * @cold 280
 */
export function validState(data: string): boolean {
  if (data.length < 12 || data.substring(0, 4) !== MAGIC) return false;
  const len = readU32(data, 4);
  if (data.length !== 12 + len) return false;
  return readU32(data, 8 + len) === checksum(data, 8, 8 + len);
}

/**
 * Load a state file into an empty broker. Returns false, changing nothing,
 * when the file is torn or damaged.
 * @cold 290
 */
export function restoreState(b: BrokerState, data: string): boolean {
  if (!validState(data)) return false;
  const end = 8 + readU32(data, 4);
  let p = 8;
  let bad = false;
  // every read is bounds-checked: a bad length marks the file bad instead of reading past it
  const byte = (): number => {
    if (p >= end) {
      bad = true;
      return 0;
    }
    return data.charCodeAt(p++);
  };
  const u16 = (): number => byte() * 256 + byte();
  const take = (n: number): string => {
    if (p + n > end) {
      bad = true;
      return "";
    }
    p += n;
    return data.substring(p - n, p);
  };
  // the first pass reads without keeping anything: lengths are skipped, not copied (a board's memory)
  let applying = false;
  const skipped = { data: b.platform.alloc.bytes(0), topicLen: 0, payloadLen: 0, qos: 0, retain: false };
  const message = (retain: boolean): StoredMessage => {
    if (!applying) {
      const tl = u16();
      if (p + tl > end) bad = true;
      p += tl;
      const pl = u16() * 65536 + u16();
      if (p + pl > end) bad = true;
      p += pl;
      skipped.qos = byte();
      return skipped;
    }
    const topic = take(u16());
    const payload = take(u16() * 65536 + u16());
    const qos = byte();
    const all = topic + payload;
    const buf = b.platform.alloc.bytes(all.length);
    for (let i = 0; i < all.length; i++) buf[i] = all.charCodeAt(i);
    return { data: buf, topicLen: topic.length, payloadLen: payload.length, qos: qos, retain: retain };
  };

  // two passes: the first only reads (a file that passes the checksum but does not parse, or holds
  // values out of range, is refused before anything changes), the second loads
  const run = (apply: boolean): boolean => {
    p = 8;
    bad = false;
    applying = apply;
    const seen: { [key: string]: boolean } = {};
    while (p < end && !bad) {
      const kind = byte();
      if (kind === REC_RETAINED) {
        const m = message(true);
        if (m.qos > 2) return false;
        if (!bad && apply) retainedSet(b.retained, text.str(m.data, 0, m.topicLen), m);
      } else if (kind === REC_SESSION) {
        const id = take(u16());
        if (seen["c" + id] === true || (!apply && findSession(b.sessions, id) !== undefined)) return false;
        seen["c" + id] = true;
        const s: Session = apply ? createSession(b.sessions, id, false) : new Session(id, false);
        s.nextPacketId = u16();
        if (s.nextPacketId === 0) s.nextPacketId = 1;
        const nf = u16();
        for (let f = 0; f < nf && !bad; f++) {
          const filter = take(u16());
          const qos = byte();
          if (filter.length === 0 || qos > 2) return false;
          if (apply && b.topics.add(filter, s, qos) >= 0) {
            s.filters.push(filter);
            s.filterQos.push(qos);
          }
        }
        const ni = u16();
        for (let j = 0; j < ni && !bad; j++) {
          const pid = u16();
          const q = byte();
          const state = byte();
          const retain = byte() === 1;
          if (pid === 0 || q < 1 || q > 2 || state < AWAIT_PUBACK || state > AWAIT_PUBCOMP) return false;
          const fm = message(false);
          if (apply) s.inflight.push({ msg: fm, packetId: pid, qos: q, retain: retain, state: state });
        }
        const nq = u16();
        for (let k = 0; k < nq && !bad; k++) {
          const qq = byte();
          const rr = byte() === 1;
          if (qq < 1 || qq > 2) return false;
          const qm = message(false);
          if (apply) s.queue.push({ msg: qm, qos: qq, retain: rr });
        }
        const n2 = u16();
        for (let r = 0; r < n2 && !bad; r++) {
          const pid2 = u16();
          if (apply) s.incomingQos2.push(pid2);
        }
        if (apply) b.sessions.detach(b, s);
      } else {
        return false;
      }
    }
    return !bad;
  };
  return run(false) && run(true);
}
