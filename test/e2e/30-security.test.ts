/**
 * Access: anonymous clients refused unless configured; ACL bypass attempts
 * (wildcards in PUBLISH topics, `$SYS` writes, `#` snooping, overlapping
 * filters with one denied, %c / %u substitution with '+', '#' or '/' in the
 * name, retained and will side doors) all refused; failed logins slowed per
 * address; passwords only hashed at rest (the passwd tool's file); nothing
 * secret in the logs (-v output of the real CLI and the broker's log lines).
 * The ACL cases run on the simulated network (exact, fast); the CLI cases as
 * a child process over TCP.
 */
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { compileAcl } from "../../firmware/core/auth/acl";
import { ACCESS_READ, ACCESS_WRITE } from "../../firmware/core/auth/types";
import { CONNACK_BAD_CREDENTIALS, CONNACK_NOT_AUTHORIZED, PUBACK, SUBACK_FAILURE } from "../../firmware/core/codec/constants";
import { aclAllowsTopic } from "../../firmware/core/auth/acl";
import { ConfigError, loadConfig, loadProfile } from "../../host-sim/config";
import { formatPasswordLine, hashPassword } from "../../host-sim/password-file";
import { SimBroker, startSimBroker } from "../../host-sim/sim";
import { connect, connectRefused, tracked, withTimeout } from "../support/e2e-helpers";
import { SimClient } from "../support/sim-client";
import { retainedGet } from "../../firmware/core/retain/store";

const test = suite("30 security");
const ROOT = path.join(__dirname, "..", "..");
const BIN = path.join(ROOT, "bin", "esp-mqtt-broker.js");
let dir = "";

const ACL = `
user admin
topic readwrite #
topic readwrite $SYS/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read public/#

pattern readwrite clients/%c/#
pattern readwrite users/%u/#
`;

const USERS: [string, string][] = [
  ["admin", "admin-pass-1"], ["alice", "alice-pass-2"], ["bob", "bob-pass-3"],
  // a line starting with '#' is a comment in a password file: "x#" stands for a user name with '#'
  ["+", "plus-pass-4"], ["x#", "hash-pass-5"], ["bob/x", "slash-pass-6"],
];

test.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "e2e-sec-"));
  writeFileSync(path.join(dir, "passwd"), USERS.map(([u, p]) => formatPasswordLine(u, hashPassword(p))).join("\n") + "\n");
  writeFileSync(path.join(dir, "acl"), ACL);
});
test.after.each(async () => {
  await tracked.closeAll();
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function conf(text: string): string {
  const f = path.join(dir, "c" + Math.floor(Math.random() * 1e9) + ".conf");
  writeFileSync(f, text);
  return f;
}

function secured(extra = ""): SimBroker {
  return startSimBroker(loadConfig(conf("listener 1883\npassword_file passwd\nacl_file acl\n" + extra), loadProfile("host")));
}

function login(sim: SimBroker, id: string, user?: string): SimClient {
  const c = new SimClient(sim);
  const pass = USERS.find(([u]) => u === user);
  c.connect(id, user === undefined ? {} : { username: user, password: pass![1] });
  return c;
}

// ---- anonymous ----

test("anonymous: refused once a listener is configured, with or without a password file; accepted only when allowed", () => {
  for (const text of ["listener 1883\n", "listener 1883\npassword_file passwd\n", "listener 1883\nallow_anonymous false\n"]) {
    const sim = startSimBroker(loadConfig(conf(text), loadProfile("host")));
    new SimClient(sim, "192.0.2.10").connect("anon", {}, CONNACK_NOT_AUTHORIZED);
    new SimClient(sim, "127.0.0.1").connect("anon", {}, CONNACK_NOT_AUTHORIZED);
  }
  const open = startSimBroker(loadConfig(conf("listener 1883\nallow_anonymous true\n"), loadProfile("host")));
  new SimClient(open, "192.0.2.10").connect("anon");
  // a user name is no way around a password file: unknown user or no password, CONNACK 4
  const sim = secured("allow_anonymous true\n");
  new SimClient(sim).connect("x", { username: "mallory", password: "x" }, CONNACK_BAD_CREDENTIALS);
  new SimClient(sim).connect("y", { username: "alice" }, CONNACK_BAD_CREDENTIALS);
  new SimClient(sim).connect("z", { username: "alice", password: "" }, CONNACK_BAD_CREDENTIALS);
});

// ---- ACL bypass attempts ----

test("wildcards in a PUBLISH topic close the connection; nothing is delivered", () => {
  const sim = secured();
  const admin = login(sim, "adm", "admin");
  admin.subscribe("#");
  for (const topic of ["alice/+", "alice/#", "#", "+", "alice/+/x"]) {
    const alice = login(sim, "alice-" + topic, "alice");
    alice.publish(topic, "wild", 1, false, 1);
    alice.settle();
    assert.ok(alice.closed, "closed after publishing to " + topic);
    assert.equal(alice.drain().map((p) => p.name), [], "not even acknowledged: " + topic);
  }
  admin.expectNothing("no wildcard publish delivered");
});

test("$SYS: no client writes there, not even one whose ACL allows it, nor through a will", () => {
  const sim = secured();
  const admin = login(sim, "adm", "admin");
  admin.subscribe("$SYS/broker/fake/#");
  admin.publish1("$SYS/broker/fake/x", "forged", 1);
  admin.publish1("$SYS/broker/fake/r", "forged retained", 2, true);
  admin.expectNothing("a forged $SYS message arrived");
  assert.is(retainedGet(sim.broker.retained, "$SYS/broker/fake/r"), undefined);
  const w = new SimClient(sim);
  w.connect("w", { username: "admin", password: "admin-pass-1", will: { topic: "$SYS/broker/fake/will", message: "forged will", retain: true } });
  w.sock.cut();
  w.settle();
  admin.expectNothing("a will into $SYS");
  // and a # subscription does not see $SYS [MQTT-4.7.2-1]
  const alice = login(sim, "a", "alice");
  assert.equal(alice.subscribe(["$SYS/#", "$SYS/broker/version"]).codes, [SUBACK_FAILURE, SUBACK_FAILURE], "alice has no $SYS rule");
});

test("# snooping under an ACL: refused filters, and a granted wildcard still filters what arrives", () => {
  const sim = secured();
  const admin = login(sim, "adm", "admin");
  const alice = login(sim, "a", "alice");
  assert.equal(alice.subscribe(["#", "+/#", "+/secret", "+/+", "public/#", "alice/#"], 0).codes,
    [SUBACK_FAILURE, SUBACK_FAILURE, SUBACK_FAILURE, SUBACK_FAILURE, 0, 0]);
  admin.publish1("bob/private", "not for alice", 1);
  admin.publish1("alice/secret", "denied to alice", 2);
  admin.publish1("alice/ok", "for alice", 3);
  assert.equal(alice.publishes().map((p) => p.topic), ["alice/ok"]);
});

test("overlapping filters, one denied: the deny wins for those messages, retained ones included", () => {
  const sim = secured();
  const admin = login(sim, "adm", "admin");
  admin.publish1("alice/secret", "retained secret", 1, true);
  admin.publish1("alice/plain", "retained plain", 2, true);
  const alice = login(sim, "a", "alice");
  assert.equal(alice.subscribe(["alice/#", "alice/secret", "alice/+"], 1).codes, [1, SUBACK_FAILURE, 1]);
  // retained messages go out per granted filter: alice/plain twice, alice/secret never
  assert.equal(alice.publishes().map((p) => p.topic + ":" + p.retain), ["alice/plain:true", "alice/plain:true"]);
  // and alice cannot write there either (acknowledged, dropped)
  admin.subscribe("alice/#");
  admin.publishes(); // the two retained messages
  alice.publish1("alice/secret", "overwrite", 5, true);
  admin.expectNothing("a denied write was delivered");
  assert.is(Buffer.from(retainedGet(sim.broker.retained, "alice/secret")!.data as Uint8Array).toString("latin1").slice(12), "retained secret");
});

test("%c with '+', '#' or '/' in the client id: no pattern rights at all", () => {
  const sim = secured("allow_anonymous true\n");
  const victim = new SimClient(sim);
  victim.connect("victim");
  assert.equal(victim.subscribe("clients/victim/#", 1).codes, [1], "the honest client gets its subtree");
  for (const id of ["+", "#", "victim/x", "victim/+", "a+b", "x#"]) {
    const bad = new SimClient(sim);
    bad.connect(id);
    assert.equal(bad.subscribe(["clients/+/#", "clients/victim/#"], 0).codes, [SUBACK_FAILURE, SUBACK_FAILURE], "client id " + JSON.stringify(id));
    // its own substituted subtree, where that is a valid filter ("clients/victim/x/#")
    if (id.indexOf("+") < 0 && id.indexOf("#") < 0) assert.equal(bad.subscribe("clients/" + id + "/#", 0, 2).codes, [SUBACK_FAILURE]);
    bad.publish1("clients/victim/x", "injected by " + id, 9);
    if (id.indexOf("/") > 0 && id.indexOf("+") < 0) bad.publish1("clients/" + id + "/y", "below the victim by " + id, 10);
  }
  victim.expectNothing("nothing reached the victim's subtree");
});

test("%u with '+', '#' or '/' in the user name: no pattern rights; the compiled rules show why", () => {
  const sim = secured();
  const bob = login(sim, "b", "bob");
  assert.equal(bob.subscribe("users/bob/#", 1).codes, [1]);
  for (const user of ["+", "x#", "bob/x"]) {
    const bad = login(sim, "bad-" + user.charCodeAt(0), user);
    assert.equal(bad.subscribe(["users/+/#", "users/bob/#", "users/#"], 0).codes, [SUBACK_FAILURE, SUBACK_FAILURE, SUBACK_FAILURE], "user " + user);
    bad.publish1("users/bob/x", "from " + user, 3);
    bad.publish1("users/bob/x/y", "below bob from " + user, 4);
  }
  bob.expectNothing("nothing reached bob's subtree");
  const acl = sim.broker.config.auth.acl!;
  for (const name of ["+", "#", "x#", "bob/x", "a/b"]) {
    assert.equal(compileAcl(acl, "cid", name), [], "user " + name);
    assert.ok(compileAcl(acl, name, "alice").every((r) => r.filter.indexOf("clients/") !== 0), "client id " + name);
  }
  const ok = compileAcl(acl, "cid", "bob");
  assert.ok(aclAllowsTopic(ok, Buffer.from("users/bob/t"), 0, 11, ACCESS_WRITE));
  assert.not.ok(aclAllowsTopic(ok, Buffer.from("users/bo/t"), 0, 10, ACCESS_READ));
});

test("a persistent session resumed by another user: nothing of the first user's leaves to the second, and all of it waits for the first", () => {
  const sim = secured();
  const pw = (u: string) => USERS.find(([n]) => n === u)![1];
  const alice = { username: "alice", password: pw("alice") };
  const bob = { username: "bob", password: pw("bob") };
  const a = new SimClient(sim);
  a.connect("shared-id", { clean: false, ...alice });
  a.subscribe("alice/inbox", 1);
  const p = new SimClient(sim);
  p.connect("alice-pub", alice);
  // one message in flight when alice goes (sent, never acknowledged), three queued while she is away
  p.publish1("alice/inbox", "m0", 1);
  assert.equal(a.publishes().map((m) => m.payload), ["m0"]);
  a.end();
  for (let i = 1; i <= 3; i++) p.publish1("alice/inbox", "m" + i, 1 + i);
  const b = new SimClient(sim);
  const ack = b.connect("shared-id", { clean: false, ...bob });
  assert.is(ack.sessionPresent, true, "as mosquitto: the session is there, it is what leaves that is checked");
  b.settle();
  assert.equal(b.publishes(), [], "bob gets none of alice's messages, queued or in flight");
  // alice's subscription stays, but nothing on it reaches bob
  p.publish1("alice/inbox", "while bob holds it", 9);
  assert.equal(b.publishes(), []);
  // bob's own traffic is not held up behind alice's messages: it goes past them within a tick
  b.subscribe("users/bob/#", 1, 2);
  const bp = new SimClient(sim);
  bp.connect("bob-pub", bob);
  bp.publish1("users/bob/x", "for bob", 1);
  sim.clock.advance(sim.broker.profile.tickMs);
  const mine = b.publishes();
  assert.equal(mine.map((m) => m.topic + " " + m.payload), ["users/bob/x for bob"]);
  b.ack(PUBACK, mine[0].packetId!);
  b.disconnect();
  // alice comes back: everything that was hers when bob took the id
  const back = new SimClient(sim);
  assert.is(back.connect("shared-id", { clean: false, ...alice }).sessionPresent, true);
  const got = back.publishes();
  assert.equal(got.map((m) => m.payload + (m.dup ? " (dup)" : "")), ["m0 (dup)", "m1", "m2", "m3"]);
});

test("failed logins are slowed per address and user name: refused unchecked after the limit, other addresses and other users unaffected", () => {
  const sim = secured();
  const p = sim.broker.profile;
  assert.ok(p.maxAuthFailures > 0, "on by default on the desktop");
  for (let i = 0; i < p.maxAuthFailures; i++) new SimClient(sim, "203.0.113.9").connect("g" + i, { username: "alice", password: "guess" + i }, CONNACK_BAD_CREDENTIALS);
  new SimClient(sim, "203.0.113.9").connect("right", { username: "alice", password: "alice-pass-2" }, CONNACK_NOT_AUTHORIZED);
  new SimClient(sim, "203.0.113.10").connect("elsewhere", { username: "alice", password: "alice-pass-2" });
  // the same address (one NAT for the house): bob is not locked out by alice's guesser
  new SimClient(sim, "203.0.113.9").connect("bob-here", { username: "bob", password: "bob-pass-3" });
  sim.clock.advance(p.authBackoffMs + p.tickMs);
  new SimClient(sim, "203.0.113.9").connect("later", { username: "alice", password: "alice-pass-2" });
  assert.is(sim.broker.guard.loginsBlocked, 1);
});

// ---- at rest and in logs ----

function run(args: string[], env: { [k: string]: string } = {}): Promise<{ code: number | null; out: string }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return withTimeout(new Promise((resolve) => child.once("close", (code) => resolve({ code, out }))), "passwd", 10000);
}

test("passwords only hashed at rest: the passwd tool's file holds salted $5$ hashes, never the password", async () => {
  const secret = "Tr0ub4dor&3-at-rest";
  const file = path.join(dir, "pw-at-rest");
  const a = await run(["passwd", "-c", file, "alice"], { MQTT_PASSWORD: secret });
  assert.is(a.code, 0, a.out);
  const b = await run(["passwd", file, "bob"], { MQTT_PASSWORD: secret });
  assert.is(b.code, 0, b.out);
  const text = readFileSync(file, "latin1");
  const lines = text.trim().split("\n");
  assert.is(lines.length, 2);
  for (const l of lines) assert.match(l, /^(alice|bob):\$5\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  // the same password, two different salts and hashes
  assert.is.not(lines[0].split(":")[1], lines[1].split(":")[1]);
  for (const form of [secret, Buffer.from(secret).toString("base64"), Buffer.from(secret).toString("hex"), secret.slice(0, 8)]) {
    assert.not.ok(text.indexOf(form) >= 0, "the file holds " + form);
    assert.not.ok(a.out.indexOf(secret) >= 0 || b.out.indexOf(secret) >= 0, "the tool printed the password");
  }
  // and the broker refuses a clear-text entry rather than compare against it
  writeFileSync(path.join(dir, "clear"), "mallory:clear-text-password\n");
  assert.throws(() => loadConfig(conf("listener 1883\npassword_file clear\n"), loadProfile("host")), (e: unknown) => e instanceof ConfigError);
});

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

test("nothing secret in logs: the -v output of the CLI, right and wrong passwords, holds no password bytes", async () => {
  const port = await freePort();
  const cfg = conf(`listener ${port} 127.0.0.1\npassword_file passwd\nacl_file acl\n`);
  const child = spawn(process.execPath, [BIN, "--config", cfg, "-v"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  try {
    await withTimeout(new Promise<void>((resolve) => {
      const check = () => (out.indexOf("listening on") >= 0 ? resolve() : setTimeout(check, 20));
      check();
    }), "the broker to listen", 10000);
    const ok = await connect(port, { clientId: "log-alice", username: "alice", password: "alice-pass-2" });
    assert.is(ok.connack.returnCode, 0);
    await connectRefused(port, { clientId: "log-wrong", username: "alice", password: "wrong-Secret-77" });
    await connectRefused(port, { clientId: "log-ghost", username: "ghost", password: "ghost-Secret-88" });
    await tracked.closeAll();
    await withTimeout(new Promise<void>((resolve) => {
      const check = () => (out.indexOf("disconnect log-alice") >= 0 ? resolve() : setTimeout(check, 20));
      check();
    }), "the disconnect line", 5000);
  } finally {
    child.kill("SIGTERM");
  }
  assert.match(out, "connect log-alice from 127.0.0.1 as alice", "-v logs connects");
  for (const secret of ["alice-pass-2", "wrong-Secret-77", "ghost-Secret-88"]) {
    assert.not.ok(out.indexOf(secret) >= 0, "the log holds " + secret);
    assert.not.ok(out.indexOf(Buffer.from(secret).toString("hex")) >= 0, "the log holds hex of " + secret);
  }
});

test.run();
