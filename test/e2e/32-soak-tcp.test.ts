/**
 * The soak (test/support/soak.ts: same clients, faults and model of the
 * spec's promises) over real TCP: the broker behind host-sim/tcp.ts's
 * TcpTransport on 127.0.0.1 (an ephemeral port, one more per restart), the
 * clients on node:net sockets whose writes are split at random byte
 * boundaries and delayed (test/support/soak-tcp.ts). Real time, so the run
 * is small and bounded (a few seconds) and not deterministic: the checks
 * are the model's, and the figures asserted are far from their limits.
 * Then the same run against a broker broken on purpose must report it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PUBLISH } from "../../firmware/core/codec/constants";
import { Broker } from "../../firmware/core/broker/broker";
import { formatReport } from "../support/soak";
import { runSoakTcp } from "../support/soak-tcp";

test("soak over real TCP: faults, restarts, every invariant holds, sockets and memory back to where they were", async () => {
  const started = Date.now();
  const r = await runSoakTcp({ seed: 3201, clients: 40, simSeconds: 2.5, restartEverySeconds: 0.4, heapBoundBytes: 16 * 1024 * 1024 });
  console.log(formatReport(r));
  assert.equal(r.violations, [], "violations (seed " + r.seed + "; real TCP is not deterministic: the seed fixes the script, not the timing)");
  assert.ok(r.messages.acked > 100, "messages acknowledged: " + r.messages.acked);
  assert.ok(r.messages.delivered > 300, "deliveries: " + r.messages.delivered);
  assert.ok(r.faults.cuts > 3 && r.faults.takeovers > 3 && r.faults.stalls > 0, JSON.stringify(r.faults));
  assert.ok(r.faults.restarts >= 1, "restarts: " + r.faults.restarts);
  assert.ok(r.faults.randomSplits > 500, "random splits: " + r.faults.randomSplits);
  assert.is(r.memory.end.sockets, 0, "server-side sockets left");
  assert.ok(Date.now() - started < 20000, "bounded in time");
});

test("caught over real TCP: a broker that loses QoS 1/2 PUBLISH packets it sends", async () => {
  let n = 0;
  const r = await runSoakTcp({
    seed: 3202, clients: 24, simSeconds: 1.5, restartEverySeconds: 0, tempo: { drainMs: 1500 },
    sabotage: (b: Broker) => {
      const send = b.send.bind(b);
      b.send = (id: number, len: number): boolean => {
        const t = b.tx[0];
        if (Math.floor(t / 16) === PUBLISH && Math.floor(t / 2) % 4 > 0 && ++n % 10 === 0) {
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
  assert.ok(r.violations.some((v) => /never arrived/.test(v)), r.violations.slice(0, 3).join("\n") || "no violation");
});

test.run();
