/**
 * The command line: bin/esp-mqtt-broker.js run as a child process, talked to
 * with MQTT.js, stopped with SIGTERM; mosquitto's short flags (-c, -p, -h)
 * and -d; configuration errors; the passwd subcommand.
 */
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, connectRefused, publish, subscribe, tracked, withTimeout } from "../support/e2e-helpers";

const test = suite("10 cli");
const ROOT = path.join(__dirname, "..", "..");
const BIN = path.join(ROOT, "bin", "esp-mqtt-broker.js");
/** Starting node + tsx takes a moment: a wider guard than for packets. */
const PROCESS_TIMEOUT = 10000;

let dir = "";
const procs: Proc[] = [];

/** A child process whose output is collected line by line, with waits on it. */
class Proc {
  child: ChildProcess;
  stdout = "";
  stderr = "";
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private wake: (() => void)[] = [];

  constructor(args: string[], env: { [k: string]: string } = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: Object.assign({}, process.env, env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      this.stdout += d;
      this.notify();
    });
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      this.notify();
    });
    this.exited = new Promise((resolve) => this.child.once("close", (code, signal) => {
      this.notify();
      resolve({ code, signal });
    }));
    procs.push(this);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  /** The first stdout line matching `re`. */
  async line(re: RegExp, what: string): Promise<string> {
    const deadline = Date.now() + PROCESS_TIMEOUT;
    for (;;) {
      const hit = this.stdout.split("\n").find((l) => re.test(l));
      if (hit !== undefined) return hit;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error("process exited while waiting for " + what + "\nstdout: " + this.stdout + "\nstderr: " + this.stderr);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for " + what + "\nstdout: " + this.stdout + "\nstderr: " + this.stderr);
      await withTimeout(new Promise<void>((r) => this.wake.push(r)), what + "\nstdout: " + this.stdout + "\nstderr: " + this.stderr, left);
    }
  }

  exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return withTimeout(this.exited, "the process to exit", PROCESS_TIMEOUT);
  }
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Processes whose command line holds BIN and `marker` (a -d broker has no handle of ours). */
function pidsOf(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let cmd: string[];
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (cmd.includes(BIN) && cmd.includes(marker)) out.push(Number(name));
  }
  return out;
}

/** Resolves once nothing accepts connections on the port. */
async function portClosed(port: number): Promise<void> {
  const deadline = Date.now() + PROCESS_TIMEOUT;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (!open) return;
    if (Date.now() > deadline) throw new Error("port " + port + " still open");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Daemons started by -d tests, by the config file that marks them. */
const daemonMarkers: string[] = [];

test.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "e2e-cli-"));
});
test.after.each(async () => {
  await tracked.closeAll();
  for (const m of daemonMarkers.splice(0)) for (const pid of pidsOf(m)) process.kill(pid, "SIGKILL");
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill("SIGKILL");
      await p.exited;
    }
  }
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test("--port N -v: listens, carries a round trip, logs the connect, exits 0 on SIGTERM", async () => {
  const port = await freePort();
  const p = new Proc(["--port", String(port), "-v"]);
  const listening = await p.line(/listening on /, "the listening line");
  assert.match(listening, "127.0.0.1:" + port);
  assert.match(listening, "board host");

  const sub = await connect(port, { clientId: "cli-sub" });
  assert.equal(await subscribe(sub.client, { "cli/topic": 1 }), [1]);
  const pub = await connect(port, { clientId: "cli-pub" });
  await publish(pub.client, "cli/topic", "through the cli", 1);
  const m = await sub.inbox.next();
  assert.equal([m.topic, m.payload, m.qos], ["cli/topic", "through the cli", 1]);

  assert.match(await p.line(/connect cli-sub from 127\.0\.0\.1/, "the -v connect line"), /^\d{4}-\d\d-\d\dT/);
  await p.line(/subscribe cli-sub cli\/topic qos 1/, "the -v subscribe line");

  await tracked.closeAll();
  p.child.kill("SIGTERM");
  const { code, signal } = await p.exit();
  assert.is(signal, null);
  assert.is(code, 0);
});

test("--config with a bad line: non-zero exit, FILE:LINE in stderr", async () => {
  const conf = path.join(dir, "bad.conf");
  writeFileSync(conf, "# a comment\nallow_anonymous true\nlistener 18830 127.0.0.1\nno_such_option 42\n");
  const p = new Proc(["--config", conf]);
  const { code } = await p.exit();
  assert.ok(code !== 0 && code !== null, "exit code " + code);
  assert.match(p.stderr, conf + ":4:");
  assert.match(p.stderr, "no_such_option");
  assert.not.match(p.stdout, "listening");
});

test("an unknown option: usage on stderr, exit 2", async () => {
  const p = new Proc(["--frobnicate"]);
  const { code } = await p.exit();
  assert.is(code, 2);
  assert.match(p.stderr, "usage: esp-mqtt-broker");
});

test("-c FILE -p PORT (mosquitto's short flags): -p overrides the file's listener; -h prints usage", async () => {
  const conf = path.join(dir, "short.conf");
  writeFileSync(conf, "listener 1 127.0.0.1\nallow_anonymous true\n");
  const port = await freePort();
  const p = new Proc(["-c", conf, "-p", String(port)]);
  assert.match(await p.line(/listening on /, "the listening line"), "127.0.0.1:" + port + " ");
  const sub = await connect(port, { clientId: "short-sub" });
  assert.equal(await subscribe(sub.client, { "short/#": 0 }), [0]);
  const pub = await connect(port, { clientId: "short-pub" });
  await publish(pub.client, "short/x", "via -c and -p", 0);
  assert.is((await sub.inbox.next()).payload, "via -c and -p");
  await tracked.closeAll();
  p.child.kill("SIGTERM");
  assert.is((await p.exit()).code, 0);

  for (const flag of ["-h", "--help"]) {
    const h = new Proc([flag]);
    assert.is((await h.exit()).code, 0, flag);
    assert.match(h.stdout, "usage: esp-mqtt-broker [-c FILE] [-p PORT]");
    assert.match(h.stdout, "-d, --daemon");
    assert.is(h.stderr, "");
  }
  const missing = new Proc(["-c"]);
  assert.is((await missing.exit()).code, 2);
  assert.match(missing.stderr, "-c needs a value");
});

test("-d: the parent prints nothing and exits 0 once the broker listens in the background; SIGTERM stops it", async () => {
  const port = await freePort();
  const conf = path.join(dir, "daemon.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
  daemonMarkers.push(conf);
  const p = new Proc(["-d", "-c", conf, "-v"]);
  assert.is((await p.exit()).code, 0, p.stderr);
  assert.is(p.stdout + p.stderr, "");
  const pids = pidsOf(conf);
  assert.is(pids.length, 1, "one background broker");
  assert.not.ok(pids.includes(p.child.pid!), "not the process that exited");

  const sub = await connect(port, { clientId: "daemon-sub" });
  assert.equal(await subscribe(sub.client, { "d/#": 1 }), [1]);
  const pub = await connect(port, { clientId: "daemon-pub" });
  await publish(pub.client, "d/x", "from the background", 1);
  assert.is((await sub.inbox.next()).payload, "from the background");
  await tracked.closeAll();

  // a second one on the same port: the error comes back to the parent
  const again = new Proc(["-d", "-c", conf]);
  assert.is((await again.exit()).code, 1);
  assert.match(again.stderr, "cannot listen");

  process.kill(pids[0], "SIGTERM");
  await portClosed(port);
});

test("-d with a bad config: the error and FILE:LINE before going into the background", async () => {
  const conf = path.join(dir, "daemon-bad.conf");
  writeFileSync(conf, "listener 1 127.0.0.1\nbogus_option 1\n");
  daemonMarkers.push(conf);
  const p = new Proc(["-d", "-c", conf]);
  assert.is((await p.exit()).code, 1);
  assert.match(p.stderr, conf + ":2:");
  assert.equal(pidsOf(conf), []);
});

test("passwd -c creates a password file (MQTT_PASSWORD) that lets a client log in", async () => {
  const pwfile = path.join(dir, "passwd");
  const mk = new Proc(["passwd", "-c", pwfile, "dave"], { MQTT_PASSWORD: "open sesame" });
  assert.is((await mk.exit()).code, 0, mk.stderr);
  const text = readFileSync(pwfile, "utf8");
  assert.match(text, /^dave:\$5\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$/);
  assert.not.match(text, "open sesame");
  // add a second user to the same file
  const add = new Proc(["passwd", pwfile, "erin"], { MQTT_PASSWORD: "second" });
  assert.is((await add.exit()).code, 0, add.stderr);
  assert.is(readFileSync(pwfile, "utf8").split("\n").filter((l) => l !== "").length, 2);

  const conf = path.join(dir, "auth.conf");
  writeFileSync(conf, "allow_anonymous false\npassword_file " + pwfile + "\n");
  const port = await freePort();
  const p = new Proc(["--config", conf, "--port", String(port)]);
  assert.match(await p.line(/listening on /, "the listening line"), ":" + port);
  const ok = await connect(port, { clientId: "dave-1", username: "dave", password: "open sesame" });
  assert.is(ok.connack.returnCode, 0);
  const erin = await connect(port, { clientId: "erin-1", username: "erin", password: "second" });
  assert.is(erin.connack.returnCode, 0);
  assert.is(await connectRefused(port, { clientId: "dave-2", username: "dave", password: "wrong" }), 4);
  assert.is(await connectRefused(port, { clientId: "anon" }), 5);
  await tracked.closeAll();
  p.child.kill("SIGTERM");
  assert.is((await p.exit()).code, 0);
});

test.run();
