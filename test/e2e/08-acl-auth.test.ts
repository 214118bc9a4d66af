/**
 * Authentication (password_file, allow_anonymous, the loopback-only default)
 * and authorization (acl_file with `topic`, `user`, `pattern` %c / %u) from
 * a mosquitto.conf read by loadConfig (mosquitto test/broker/09-acl-*,
 * 09-auth-*).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { encodeConnect } from "../../firmware/core/codec/encode";
import { defaultConfig, loadConfig, loadProfile } from "../../host-sim/config";
import { formatPasswordLine, hashPassword } from "../../host-sim/password-file";
import { startSimBroker } from "../../host-sim/sim";
import { bytesToHex } from "../../host-sim/sim";
import {
  barrier, connect, connectRefused, CONNECT_DEFAULTS, idle, publish, startTestBroker, subscribe, TestBroker, tracked, unique,
} from "../support/e2e-helpers";

const test = suite("08 ACL and auth");
let b: TestBroker;
let dir = "";

const ACL = `
# no anonymous section: anonymous clients are refused anyway
user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/private/#
topic write inbox/#

user bob
topic readwrite bob/#
topic read inbox/#
topic write shared/#

pattern readwrite clients/%c/#
pattern readwrite users/%u/#
`;

test.before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "e2e-acl-"));
  const passwd = [
    formatPasswordLine("alice", hashPassword("wonderland")),
    formatPasswordLine("bob", hashPassword("builder", "sha512")),
    formatPasswordLine("carol", hashPassword("pbkdf2 pass", "pbkdf2-sha512")),
  ].join("\n") + "\n";
  writeFileSync(path.join(dir, "passwd"), passwd);
  writeFileSync(path.join(dir, "acl"), ACL);
  const conf = path.join(dir, "mosquitto.conf");
  // relative paths resolve against the configuration file's folder
  writeFileSync(conf, "allow_anonymous false\npassword_file passwd\nacl_file acl\n");
  b = await startTestBroker({ config: loadConfig(conf, loadProfile("host")) });
});
test.after.each(async () => {
  await tracked.closeAll();
  await idle(b);
});
test.after(async () => {
  await b.close();
  rmSync(dir, { recursive: true, force: true });
});

const alice = { username: "alice", password: "wonderland" };
const bob = { username: "bob", password: "builder" };

test("right user name and password: accepted ($5$, $6$ and $7$ hashes)", async () => {
  for (const [username, password] of [["alice", "wonderland"], ["bob", "builder"], ["carol", "pbkdf2 pass"]]) {
    const since = b.logs.mark();
    const c = await connect(b.port, { clientId: unique(username), username, password });
    assert.is(c.connack.returnCode, 0);
    assert.match(await b.logs.waitFor(new RegExp(" as " + username + "$"), since), "connect ");
  }
});

test("wrong password, unknown user, user name without password: CONNACK 4", async () => {
  assert.is(await connectRefused(b.port, { clientId: unique("w"), username: "alice", password: "WONDERLAND" }), 4);
  assert.is(await connectRefused(b.port, { clientId: unique("w"), username: "mallory", password: "wonderland" }), 4);
  assert.is(await connectRefused(b.port, { clientId: unique("w"), username: "alice" }), 4);
  assert.is(b.running.broker.clientCount, 0);
});

test("anonymous client with allow_anonymous false: CONNACK 5", async () => {
  assert.is(await connectRefused(b.port, { clientId: unique("anon") }), 5);
});

test("embedded default config (core, simulated network): anonymous refused (5) from 192.168.1.5, accepted from loopback", () => {
  const sim = startSimBroker(defaultConfig(loadProfile("host")));
  const out = new Uint8Array(256);
  const remote = sim.net.connect("192.168.1.5");
  remote.write(out.subarray(0, encodeConnect(out, 0, Object.assign({}, CONNECT_DEFAULTS, { clientId: "lan" }))));
  sim.clock.settle();
  assert.is(bytesToHex(remote.take()), "20020005");
  sim.clock.advance(10);
  assert.ok(remote.closed, "refused connection closed");
  // a user name does not help without a password file
  const named = sim.net.connect("192.168.1.5");
  named.write(out.subarray(0, encodeConnect(out, 0, Object.assign({}, CONNECT_DEFAULTS, { clientId: "lan2", username: "u", password: "p" }))));
  sim.clock.settle();
  assert.is(bytesToHex(named.take()), "20020005");
  // the same CONNECT, as hex, from this machine
  const local = sim.net.connect("127.0.0.1");
  local.write("10 0F 00 04 4D 51 54 54 04 02 00 3C 00 03 6C 61 6E");
  sim.clock.settle();
  assert.is(bytesToHex(local.take()), "20020000");
  assert.is(sim.broker.clientCount, 1);
});

test("denied subscription: 0x80 (MQTT.js granted 128) for that filter, the others granted", async () => {
  const a = await connect(b.port, Object.assign({ clientId: unique("a") }, alice));
  assert.equal(
    await subscribe(a.client, { "alice/x": 1, "bob/#": 1, "shared/news": 0, "#": 0, "shared/private/#": 1, "inbox/#": 1 }),
    [1, 128, 0, 128, 128, 128],
  );
});

test("denied QoS 1 publish: acknowledged, not delivered", async () => {
  const a = await connect(b.port, Object.assign({ clientId: unique("a") }, alice));
  const bb = await connect(b.port, Object.assign({ clientId: unique("b") }, bob));
  assert.equal(await subscribe(bb.client, { "bob/#": 1, "inbox/#": 1 }), [1, 1]);
  await publish(a.client, "bob/mailbox", "alice may not write here", 1); // resolves on PUBACK
  await publish(a.client, "inbox/bob", "allowed", 1);
  const m = await bb.inbox.next();
  assert.equal([m.topic, m.payload], ["inbox/bob", "allowed"], "the denied one never came first");
  assert.equal(await barrier(a.client, bb, "inbox/bob"), []);
});

test("read access is checked at delivery: a deny under a granted wildcard filters messages", async () => {
  const a = await connect(b.port, Object.assign({ clientId: unique("a") }, alice));
  const bb = await connect(b.port, Object.assign({ clientId: unique("b") }, bob));
  assert.equal(await subscribe(a.client, { "shared/#": 1 }), [1]);
  await publish(bb.client, "shared/private/diary", "hidden", 1);
  await publish(bb.client, "shared/news", "public", 1);
  assert.is((await a.inbox.next()).payload, "public", "the private one did not come first");
  assert.equal(await barrier(bb.client, a, "shared/stop"), []);
});

test("write-only and read-only rules", async () => {
  const a = await connect(b.port, Object.assign({ clientId: unique("a") }, alice));
  const bb = await connect(b.port, Object.assign({ clientId: unique("b") }, bob));
  // bob may write shared/# but not read it; alice the other way round
  assert.equal(await subscribe(bb.client, { "shared/#": 0 }), [128]);
  assert.equal(await subscribe(a.client, { "shared/#": 0, "alice/own": 0 }), [0, 0]);
  await publish(a.client, "shared/from-alice", "read-only writer", 1);
  await publish(a.client, "alice/own", "own topic", 1);
  const m = await a.inbox.next();
  assert.equal([m.topic, m.payload], ["alice/own", "own topic"]);
});

test("pattern %c: a client id gets its own subtree and nobody else's", async () => {
  const dev7 = await connect(b.port, Object.assign({ clientId: "dev-7" }, bob));
  const dev8 = await connect(b.port, Object.assign({ clientId: "dev-8" }, alice));
  assert.equal(await subscribe(dev7.client, { "clients/dev-7/#": 1, "clients/dev-8/#": 1, "clients/+/cmd": 1 }), [1, 128, 128]);
  assert.equal(await subscribe(dev8.client, { "clients/dev-8/#": 1, "shared/stop": 1 }), [1, 1]);
  await publish(dev7.client, "clients/dev-7/state", "mine", 1);
  const own = await dev7.inbox.next();
  assert.equal([own.topic, own.payload], ["clients/dev-7/state", "mine"]);
  await publish(dev7.client, "clients/dev-8/cmd", "not yours", 1);
  assert.equal(await barrier(dev7.client, dev8, "shared/stop"), [], "dev-7 cannot write into dev-8's subtree");
});

test("pattern %u: a user gets its own subtree", async () => {
  const a = await connect(b.port, Object.assign({ clientId: unique("a") }, alice));
  assert.equal(await subscribe(a.client, { "users/alice/#": 2, "users/bob/#": 0 }), [2, 128]);
  await publish(a.client, "users/alice/status", "online", 1);
  const m = await a.inbox.next();
  assert.equal([m.topic, m.payload, m.qos], ["users/alice/status", "online", 1]);
});

test("a will is published only where the client may write", async () => {
  const bb = await connect(b.port, Object.assign({ clientId: unique("b") }, bob));
  assert.equal(await subscribe(bb.client, { "bob/#": 1, "inbox/#": 1 }), [1, 1]);
  const deniedId = unique("a");
  const denied = await connect(b.port, Object.assign({ clientId: deniedId, will: { topic: "bob/will", payload: Buffer.from("x"), qos: 1 as const, retain: false } }, alice));
  const since = b.logs.mark();
  denied.client.stream.destroy();
  // the broker is done with the denied will once it logs the disconnect
  await b.logs.waitFor(new RegExp("^disconnect " + deniedId + " "), since);
  const allowed = await connect(b.port, Object.assign({ clientId: unique("a"), will: { topic: "inbox/will", payload: Buffer.from("bye"), qos: 1 as const, retain: false } }, alice));
  allowed.client.stream.destroy();
  const m = await bb.inbox.next("the allowed will");
  assert.equal([m.topic, m.payload], ["inbox/will", "bye"], "the denied will did not come first");
  const a2 = await connect(b.port, Object.assign({ clientId: unique("a") }, alice));
  assert.equal(await barrier(a2.client, bb, "inbox/stop"), []);
});

test.run();
