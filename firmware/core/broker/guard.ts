import { ERR_SLOW } from "../codec/constants";
import type { BrokerState, Guard, GuardRecord } from "./state";
import { CONNECTED } from "./connection";

/**
 * What keeps floods and slow consumers from growing the broker, all set by
 * the board profile (0 turns a check off):
 * - a connection whose send queue stays above maxSendQueueBytes for
 *   stallTimeoutMs is closed (ERR_SLOW, its will goes out);
 * - a client id that takes over its own session more than maxTakeovers times
 *   within takeoverWindowMs is refused with CONNACK 3: two clients fighting
 *   over one id are a conflict, not traffic;
 * - a user name that was refused maxAuthFailures times from one address
 *   within authFailureWindowMs gets CONNACK 5 there for authBackoffMs,
 *   without its password being checked: guessing is slowed per address and
 *   user name, so one client's mistakes behind a NAT do not lock out the
 *   other users of the house (anonymous attempts count as one more name).
 * It also retries, once a tick, what waits for room in a connection's send
 * queue (Broker.drained).
 * Counters live in one dense list of at most maxClients records; when it is
 * full the oldest record goes, one in backoff only when all are (so a
 * guesser cannot free its target by failing under other names), and the
 * guard itself stays bounded.
 */

function findRecord(g: Guard, key: string): GuardRecord | undefined {
  const list = g.records;
  for (let i = 0; i < list.length; i++) if (list[i].key === key) return list[i];
  return undefined;
}

/** The record for `key`, its window restarted when `windowMs` has passed; made (evicting the oldest) if new. */
function recordFor(b: BrokerState, key: string, now: number, windowMs: number): GuardRecord {
  const g = b.guard;
  let r = findRecord(g, key);
  if (r === undefined) {
    if (g.records.length >= b.profile.maxClients && g.records.length > 0) {
      let oldest = -1;
      for (let pass = 0; pass < 2 && oldest < 0; pass++) {
        for (let i = 0; i < g.records.length; i++) {
          const c = g.records[i];
          if (pass === 0 && c.until >= now) continue;
          if (oldest < 0 || c.since < g.records[oldest].since) oldest = i;
        }
      }
      g.records.splice(oldest, 1);
    }
    r = { key: key, count: 0, since: now, until: -1 };
    g.records.push(r);
  } else if (now - r.since >= windowMs && r.until < now) {
    r.count = 0;
    r.since = now;
    r.until = -1;
  }
  return r;
}

/** The guard's key for logins as `username` from `remote` (one key for anonymous ones). */
function loginKey(remote: string, username: string | undefined): string {
  // "\n" cannot be in an address, so no user name makes two pairs collide
  return username === undefined ? "n" + remote : "a" + remote + "\n" + username;
}

/**
 * True when CONNECTs as this user from this address are in their backoff: refuse without checking a password.
 * @cold 160
 */
export function loginBlocked(b: BrokerState, remote: string, username: string | undefined, now: number): boolean {
  if (b.profile.maxAuthFailures <= 0) return false;
  const r = findRecord(b.guard, loginKey(remote, username));
  if (r === undefined || r.until < 0 || r.until <= now) return false;
  b.guard.loginsBlocked++;
  return true;
}

/**
 * A login as this user from this address was refused: count it, and start the backoff at the limit.
 * @cold 170
 */
export function loginFailed(b: BrokerState, remote: string, username: string | undefined, now: number): void {
  const p = b.profile;
  if (p.maxAuthFailures <= 0) return;
  const r = recordFor(b, loginKey(remote, username), now, p.authFailureWindowMs);
  r.count++;
  if (r.count >= p.maxAuthFailures) {
    r.until = now + p.authBackoffMs;
    r.count = 0;
    r.since = now;
  }
}

/**
 * A CONNECT takes over a live session of `clientId`: true when that id has done so too often (refuse it).
 * @cold 180
 */
export function takeoverStorm(b: BrokerState, clientId: string, now: number): boolean {
  const p = b.profile;
  if (p.maxTakeovers <= 0) return false;
  const r = recordFor(b, "t" + clientId, now, p.takeoverWindowMs);
  r.count++;
  if (r.count <= p.maxTakeovers) return false;
  b.guard.takeoversRefused++;
  return true;
}

/**
 * From broker.tick(): close connections stalled too long, forget records whose time is over.
 * @cold 220
 */
export function guardTick(b: BrokerState, now: number): void {
  const g = b.guard;
  const p = b.profile;
  if (p.stallTimeoutMs > 0) {
    const list = b.conns;
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i];
      if (c === undefined || c.state !== CONNECTED) continue;
      const key = "c" + c.id;
      if (b.transport.queued(c.id) > p.maxSendQueueBytes) {
        const since = g.stalled[key];
        if (since === undefined) {
          g.stalled[key] = now;
        } else if (now - since >= p.stallTimeoutMs) {
          delete g.stalled[key];
          g.slowClosed++;
          b.disconnect(c, ERR_SLOW);
        }
      } else if (g.stalled[key] !== undefined) {
        delete g.stalled[key];
      }
    }
  }
  for (const key in g.stalled) if (b.connsById[key] === undefined) delete g.stalled[key];
  // what waits for room (QoS 1/2 behind the window, a paused retained replay) is retried once a
  // tick: for transports that report no drain, and for messages queued behind ones the
  // connection may not read (deliver.ts pump)
  const conns = b.conns;
  for (let j = conns.length - 1; j >= 0; j--) {
    const s = conns[j].session;
    if (s !== undefined && (s.replays !== undefined || s.queue.length > 0)) b.drained(conns[j].id);
  }
  const records = g.records;
  for (let k = records.length - 1; k >= 0; k--) {
    const r = records[k];
    const windowMs = r.key.charAt(0) === "t" ? p.takeoverWindowMs : p.authFailureWindowMs;
    if (now - r.since >= windowMs && r.until <= now) records.splice(k, 1);
  }
}
