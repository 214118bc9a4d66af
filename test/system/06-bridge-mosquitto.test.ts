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
import * as fs from "node:fs";
import * as path from "node:path";
import { loadConfig, loadProfile } from "../../host-sim/config";
import { startBroker } from "../../host-sim/server";
import {
  client, closeClient, freePort, haveMosquitto, MosquittoLocal, mosquittoUpstream, outageScenario, sleep, tmpDir, until,
} from "../support/bridge";

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

test("the other way round (the README's board example): mosquitto bridges to ours with try_private, `topic # both 1`; ours takes level 0x84 and echoes nothing back", async () => {
  if (!haveMosquitto()) throw new Error("needs Debian's mosquitto: apt-get install mosquitto");
  const dir = tmpDir("reverse");
  const ourPort = await freePort();
  fs.writeFileSync(path.join(dir, "ours.conf"), "listener " + ourPort + " 127.0.0.1\nallow_anonymous true\n");
  const ours = await startBroker(loadConfig(path.join(dir, "ours.conf"), loadProfile("esp32")));
  const mPort = await freePort();
  const conf = path.join(dir, "mosquitto.conf");
  fs.writeFileSync(conf, ["listener " + mPort + " 127.0.0.1", "allow_anonymous true", "persistence_location " + dir,
    "connection board", "address 127.0.0.1:" + ourPort, "remote_clientid lan-gateway", "topic # both 1", "restart_timeout 1", ""].join("\n"));
  const mosq = new MosquittoLocal(conf, mPort, dir);
  await mosq.start();
  const onBoard = await client(ourPort, { clientId: "sensor" }, { "#": 1 });
  const onLan = await client(mPort, { clientId: "dashboard" }, { "#": 1 });
  try {
    await until(() => ours.broker.conns.some((c) => c.clientId === "lan-gateway" && c.protocolLevel === 0x84), "mosquitto's bridge (level 0x84) on ours");
    await sleep(300);
    await onBoard.client.publishAsync("greenhouse/temp", "21.5", { qos: 1 });
    await onLan.client.publishAsync("greenhouse/vent", "open", { qos: 1 });
    await until(() => onLan.got.some((m) => m.topic === "greenhouse/temp") && onBoard.got.some((m) => m.topic === "greenhouse/vent"), "each side");
    await sleep(800);
    const list = (c: typeof onBoard) => c.got.filter((m) => m.topic.startsWith("greenhouse/")).map((m) => m.topic).sort();
    console.log(`  mosquitto bridged to ours: the board side got ${list(onBoard).join(", ")}; the LAN side got ${list(onLan).join(", ")}`);
    assert.equal(list(onBoard), ["greenhouse/temp", "greenhouse/vent"], "once each on the board side");
    assert.equal(list(onLan), ["greenhouse/temp", "greenhouse/vent"], "once each on the LAN side");
  } finally {
    await closeClient(onBoard);
    await closeClient(onLan);
    await mosq.kill("SIGTERM");
    await ours.close();
  }
});

test.run();
