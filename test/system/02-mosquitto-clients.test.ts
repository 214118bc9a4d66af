/**
 * The README's promise, exactly: `npm start` serves a `mosquitto_sub -t '#' -v`
 * / `mosquitto_pub -t a/b -m hi` round trip with Debian's mosquitto-clients.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { requireTool } from "../support/tools";

const ROOT = path.join(__dirname, "..", "..");

function waitFor(proc: ChildProcess, stream: "stdout" | "stderr", pattern: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; saw: ${seen}`)), ms);
    proc[stream]!.on("data", (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}; saw: ${seen}`));
    });
  });
}

test("npm start serves mosquitto_sub -t '#' -v and mosquitto_pub -t a/b -m hi", async () => {
  requireTool("mosquitto_sub", "mosquitto-clients");
  requireTool("mosquitto_pub", "mosquitto-clients");
  const broker = spawn("npm", ["start", "--silent"], { cwd: ROOT, detached: true });
  try {
    await waitFor(broker, "stdout", /listening on 127\.0\.0\.1:1883/, 20000);
    const sub = spawn("mosquitto_sub", ["-h", "127.0.0.1", "-p", "1883", "-t", "#", "-v", "-C", "1", "-W", "10"]);
    let out = "";
    sub.stdout.on("data", (d) => (out += d.toString()));
    const subDone = new Promise<number | null>((r) => sub.on("exit", (code) => r(code)));
    // publish until the subscriber has seen it (its SUBSCRIBE may land after the first publish)
    for (let i = 0; i < 50 && sub.exitCode === null; i++) {
      const pub = spawnSync("mosquitto_pub", ["-h", "127.0.0.1", "-p", "1883", "-t", "a/b", "-m", "hi"], { encoding: "utf8" });
      assert.is(pub.status, 0, pub.stderr);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.is(await subDone, 0);
    assert.is(out.trim().split("\n")[0], "a/b hi");
  } finally {
    process.kill(-broker.pid!, "SIGTERM");
    await new Promise((r) => broker.on("exit", r));
  }
});

test("mosquitto_pub QoS 1 and 2 and a retained message reach mosquitto_sub", async () => {
  requireTool("mosquitto_sub", "mosquitto-clients");
  const broker = spawn(process.execPath, [path.join(ROOT, "bin", "esp-mqtt-broker.js"), "--port", "18830"], { cwd: ROOT });
  try {
    await waitFor(broker, "stdout", /listening/, 20000);
    const pubr = spawnSync("mosquitto_pub", ["-p", "18830", "-t", "home/temp", "-m", "21.5", "-r", "-q", "1"], { encoding: "utf8" });
    assert.is(pubr.status, 0, pubr.stderr);
    const sub = spawnSync("mosquitto_sub", ["-p", "18830", "-t", "home/+", "-v", "-C", "1", "-W", "5", "-q", "2"], { encoding: "utf8" });
    assert.is(sub.status, 0, sub.stderr);
    assert.is(sub.stdout.trim(), "home/temp 21.5");
    const q2 = spawnSync("mosquitto_pub", ["-p", "18830", "-t", "home/x", "-m", "y", "-q", "2"], { encoding: "utf8" });
    assert.is(q2.status, 0, q2.stderr);
  } finally {
    broker.kill("SIGTERM");
    const code = await new Promise((r) => broker.on("exit", (c) => r(c)));
    assert.is(code, 0, "SIGTERM exits 0");
  }
});

test.run();
