/**
 * The soak (test/support/soak.ts) with every chunk the simulated sockets
 * deliver going through the Espruino adapter's receive path
 * (firmware/espruino/receive.ts, as main.ts calls it: a binary string per
 * chunk, the shared 256-byte receive buffer, the fast path that forwards a
 * publisher's repeated QoS 0 packets whole; test/support/espruino-receive-net.ts).
 * Publishers add bursts of same-sized QoS 0 on one topic, so the fast path
 * carries a good part of the traffic; a tenth of the chunks arrive
 * "congested" and take the parser's way. Same invariants, deterministic.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatReport, runSoakOn, SoakOptions, soakNetReceive } from "../support/soak";

const RX: SoakOptions = { seed: 2205, clients: 80, simSeconds: 30, restartEverySeconds: 10, heapBoundBytes: 8 * 1024 * 1024, tempo: { qos0Burst: 0.05 } };

test("soak through the Espruino receive path: every invariant holds, the fast path carried traffic", () => {
  const r = runSoakOn(RX, soakNetReceive(RX));
  console.log(formatReport(r));
  assert.equal(r.violations, [], "violations (seed " + r.seed + ")");
  const f = r.networkFigures;
  assert.ok(f.fastPathWrites > 1000, "fast path writes: " + f.fastPathWrites);
  assert.ok(f.receiveCongested > 100, "congested chunks: " + f.receiveCongested);
  assert.ok(r.messages.acked > 300 && r.messages.qos0 > 1000, JSON.stringify(r.messages));
  assert.ok(r.faults.restarts >= 1 && r.faults.cutsMidPacket > 10 && r.faults.takeovers > 10 && r.faults.keepaliveExpiries > 0, JSON.stringify(r.faults));
});

test("through the receive path, the same seed replays the same run", () => {
  const o = { ...RX, clients: 30, simSeconds: 10 };
  const a = runSoakOn(o, soakNetReceive(o));
  const b = runSoakOn(o, soakNetReceive(o));
  assert.equal(a.messages, b.messages);
  assert.equal(a.faults, b.faults);
  assert.equal(a.networkFigures, b.networkFigures);
});

test("caught: a fast path that forwards a run twice", () => {
  const o = { ...RX, clients: 40, simSeconds: 10 };
  let n = 0;
  const r = runSoakOn(o, soakNetReceive(o, (s) => (++n % 25 === 0 ? s + s : s)));
  assert.ok(r.violations.some((v) => /QoS 0 .* arrived [2-9] times/.test(v)), r.violations.slice(0, 3).join("\n") || "no violation");
});

test("caught: a fast path that loses a byte", () => {
  const o = { ...RX, clients: 40, simSeconds: 10 };
  let n = 0;
  const r = runSoakOn(o, soakNetReceive(o, (s) => (++n % 50 === 0 ? s.substring(1) : s)));
  assert.ok(r.violations.some((v) => /malformed|nobody published|matches none/.test(v)), r.violations.slice(0, 3).join("\n") || "no violation");
});

test.run();
