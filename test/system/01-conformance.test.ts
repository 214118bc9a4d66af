/**
 * Eclipse Mosquitto's message-sequence corpus, byte for byte: every MQTT 3.1.1
 * and 3.1 case over the simulated sockets (whole writes, and every write split
 * into single bytes) and over real TCP. The corpus is test/conformance/
 * mosquitto-msg-sequence; set CONFORMANCE_DIR to replay another copy.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { startBroker } from "../../host-sim/server";
import { Case, DEFAULT_CORPUS, DEVIATIONS, loadCases, Outcome, runCaseSim, runCaseTcp } from "../support/replay";

const dir = process.env.CONFORMANCE_DIR || DEFAULT_CORPUS;
const cases = loadCases(dir);
const config = () => defaultConfig(loadProfile("host"));

function report(label: string, results: { c: Case; r: Outcome }[]) {
  const failed = results.filter((x) => x.r !== undefined && DEVIATIONS[x.c.name] === undefined);
  const deviated = results.filter((x) => x.r !== undefined && DEVIATIONS[x.c.name] !== undefined);
  console.log(`conformance ${label}: ${results.length - failed.length - deviated.length}/${results.length} passed` +
    (deviated.length ? `, ${deviated.length} deliberate deviations` : ""));
  for (const d of deviated) console.log(`  deviation ${d.c.name}: ${DEVIATIONS[d.c.name]}`);
  assert.equal(failed.map((x) => `${x.c.file} | ${x.c.name}: ${x.r}`), []);
}

test("the corpus holds the 267 MQTT 3.1.1 cases and 6 MQTT 3.1 cases", () => {
  assert.is(cases.filter((c) => !c.group.startsWith("v3.1 ")).length, 267);
  assert.is(cases.filter((c) => c.group.startsWith("v3.1 ")).length, 6);
});

test("simulated sockets, whole writes", () => {
  report("sim", cases.map((c) => ({ c, r: runCaseSim(c, config(), false) })));
});

test("simulated sockets, every write split into single bytes", () => {
  report("sim split", cases.map((c) => ({ c, r: runCaseSim(c, config(), true) })));
});

test("real TCP, a fresh broker for each case", async () => {
  const results: { c: Case; r: Outcome }[] = [];
  for (const c of cases) {
    const cfg = config();
    cfg.listeners = [{ port: 0, address: "127.0.0.1" }];
    const running = await startBroker(cfg);
    try {
      results.push({ c, r: await runCaseTcp(c, running.ports[0]) });
    } finally {
      await running.close();
    }
  }
  report("tcp", results);
});

test.run();
