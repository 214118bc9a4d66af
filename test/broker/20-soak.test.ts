/**
 * A short soak in every `npm test` (a few seconds), and proof that its
 * checker fails: the same run against brokers broken on purpose must report
 * violations. The long run is `npm run soak` (test/cli/soak.ts).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ERR_SOCKET, PUBLISH, DISCONNECT } from "../../firmware/core/codec/constants";
import { Broker } from "../../firmware/core/broker/broker";
import { Connection } from "../../firmware/core/broker/connection";
import { formatReport, runSoak, SoakOptions, topicMatches } from "../support/soak";

const SHORT: SoakOptions = { seed: 20240601, clients: 120, simSeconds: 40, restartEverySeconds: 10, heapBoundBytes: 8 * 1024 * 1024 };

test("the checker's own topic matcher", () => {
  assert.ok(topicMatches("t/#", "t/1/p3"));
  assert.ok(topicMatches("t/+/p3", "t/1/p3"));
  assert.not.ok(topicMatches("t/+", "t/1/p3"));
  assert.ok(topicMatches("t/1/#", "t/1"));
  assert.not.ok(topicMatches("t/2/+", "t/1/p3"));
});

test("short soak: hundreds of faults, every invariant holds, memory back to baseline", () => {
  const r = runSoak(SHORT);
  console.log(formatReport(r));
  assert.equal(r.violations, [], "violations (replay: npm run soak -- --seed " + r.seed + " --clients " + r.clients + " --sim-seconds " + SHORT.simSeconds + ")");
  assert.ok(r.messages.acked > 1000, "messages acknowledged: " + r.messages.acked);
  assert.ok(r.messages.wills > 5, "wills: " + r.messages.wills);
  assert.ok(r.faults.restarts >= 1, "restarts: " + r.faults.restarts);
  assert.ok(r.faults.cutsMidPacket > 10 && r.faults.takeovers > 10 && r.faults.stalls > 5 && r.faults.keepaliveExpiries > 0);
  assert.ok(r.faults.takeoversRefused > 0, "a takeover storm was refused");
  assert.ok(r.memory.peakConnections > 100);
});

test("the same seed replays the same run", () => {
  const a = runSoak({ ...SHORT, clients: 40, simSeconds: 15 });
  const b = runSoak({ ...SHORT, clients: 40, simSeconds: 15 });
  assert.equal(a.messages, b.messages);
  assert.equal(a.faults, b.faults);
  assert.is(a.checks, b.checks);
});

// ---- brokers broken on purpose: the soak must notice ----

const small: SoakOptions = { seed: 7, clients: 60, simSeconds: 20, restartEverySeconds: 8 };

test("caught: a broker that loses QoS 1/2 PUBLISH packets it sends", () => {
  let n = 0;
  const r = runSoak({
    ...small,
    sabotage: (b: Broker) => {
      const send = b.send.bind(b);
      b.send = (id: number, len: number): boolean => {
        const t = b.tx[0];
        if (Math.floor(t / 16) === PUBLISH && Math.floor(t / 2) % 4 > 0 && ++n % 40 === 0) {
          // forget it: no redelivery either, the in-flight entry goes
          const c = b.connection(id);
          const s = c !== undefined ? c.session : undefined;
          if (s !== undefined) s.inflight.pop();
          return true;
        }
        return send(id, len);
      };
    },
  });
  assert.ok(r.violations.some((v) => /never arrived/.test(v)), r.violations.slice(0, 3).join("\n"));
});

test("caught: a broker that publishes the will on DISCONNECT", () => {
  const r = runSoak({
    ...small,
    sabotage: (b: Broker) => {
      const dispatch = b.dispatch.bind(b);
      b.dispatch = (conn: Connection, first: number, buf, off, len): number => {
        if (Math.floor(first / 16) === DISCONNECT && conn.will !== undefined) {
          b.disconnect(conn, ERR_SOCKET);
          return 0;
        }
        return dispatch(conn, first, buf, off, len);
      };
    },
  });
  assert.ok(r.violations.some((v) => /will .*DISCONNECT/.test(v)), r.violations.slice(0, 3).join("\n"));
});

test("caught: a broker that keeps the wrong retained message", () => {
  const r = runSoak({
    ...small,
    sabotage: (b: Broker) => {
      // every fifth retained message is "stored" without reaching the index
      let n = 0;
      b.retained.index = new Proxy(b.retained.index, {
        set: (target, key, value) => {
          if (++n % 5 !== 0) target[key as string] = value;
          return true;
        },
      });
    },
  });
  assert.ok(r.violations.some((v) => /^retained/.test(v)), r.violations.slice(0, 3).join("\n"));
});

test("caught: a broker that never forgets a session", () => {
  const r = runSoak({
    ...small,
    sabotage: (b: Broker) => {
      b.sessions.discard = () => {};
    },
  });
  assert.ok(r.violations.some((v) => /^memory: sessions/.test(v)), r.violations.slice(0, 3).join("\n"));
});

test("caught: a broker that delivers QoS 2 twice", () => {
  const r = runSoak({
    ...small,
    restartEverySeconds: 2,
    sabotage: (b: Broker) => {
      const dispatch = b.dispatch.bind(b);
      b.dispatch = (conn: Connection, first: number, buf, off, len): number => {
        // forget the incoming QoS 2 ids: a resent PUBLISH is routed again
        if (conn.session !== undefined) conn.session.incomingQos2.length = 0;
        return dispatch(conn, first, buf, off, len);
      };
    },
  });
  assert.ok(r.violations.some((v) => /QoS 2 .* arrived [2-9] times/.test(v)), r.violations.slice(0, 3).join("\n"));
});

test.run();
