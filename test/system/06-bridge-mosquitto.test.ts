/**
 * The bridge against the real thing (issue 14): Debian's mosquitto as the
 * upstream, started by the test, stopped mid-stream and started again; our
 * broker a child process with `persistence true`, SIGKILLed while the
 * upstream is down and started again. 100/100 must arrive. The same run with
 * mosquitto as the local broker prints its figure (50/100 with 2.0.11:
 * what it held for the bridge was in memory) for comparison.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { haveMosquitto, mosquittoUpstream, outageScenario } from "../support/bridge";

const test = suite("06 bridge vs mosquitto");

test("power cut with mosquitto as the upstream: 100/100, in order, duplicates only as QoS 1 allows", async () => {
  if (!haveMosquitto()) throw new Error("needs Debian's mosquitto: apt-get install mosquitto");
  const r = await outageScenario(mosquittoUpstream, (s) => console.log("  " + s));
  assert.is(r.sent, 100);
  assert.is(r.distinct, 100);
  assert.ok(r.inOrder);
});

test("for comparison: mosquitto as the local broker in the same scenario (printed, not held to 100)", async () => {
  if (!haveMosquitto()) throw new Error("needs Debian's mosquitto: apt-get install mosquitto");
  const r = await outageScenario(mosquittoUpstream, (s) => console.log("  " + s), "mosquitto");
  assert.is(r.sent, 100);
  assert.ok(r.distinct >= 50, "mosquitto delivers at least what was sent while the upstream was up");
});

test.run();
