import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { checkPassword } from "../../firmware/core/auth/passwords";
import { ACCESS_READ } from "../../firmware/core/auth/types";
import { BoardProfile, PROFILE_FIELDS } from "../../firmware/core/profile";
import { ConfigError, defaultConfig, isWebSocketListener, listenerHttpDir, listenerTls, loadConfig, loadProfile } from "../../host-sim/config";
import { nodeHashes } from "../../host-sim/hashes";
import { formatPasswordLine, hashPassword } from "../../host-sim/password-file";

const BOARDS = path.join(__dirname, "..", "..", "boards");

function hostProfile(): BoardProfile {
  return JSON.parse(readFileSync(path.join(BOARDS, "host.json"), "utf8")) as BoardProfile;
}

let dir = "";
function setup(): void {
  dir = mkdtempSync(path.join(tmpdir(), "config-"));
}
function teardown(): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Write a file under the temp folder; returns its path. */
function put(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

function conf(text: string) {
  return loadConfig(put("broker.conf", text), hostProfile());
}

function throwsWith(fn: () => unknown, message: string | RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ConfigError);
    const text = (e as Error).message;
    if (typeof message === "string") assert.is(text, message);
    else assert.match(text, message);
    return;
  }
  assert.unreachable("expected a ConfigError: " + String(message));
}

/** A config error on `line` of broker.conf. */
function confError(text: string, line: number, what: string | RegExp): void {
  const file = path.join(dir, "broker.conf");
  const prefix = file + ":" + line + ": ";
  throwsWith(
    () => conf(text),
    typeof what === "string" ? prefix + what : new RegExp("^" + prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + what.source),
  );
}

// ---------------------------------------------------------------- defaults

test("01 default config: loopback listener, anonymous from loopback only", () => {
  const profile = hostProfile();
  const c = loadConfig(undefined, profile);
  assert.equal(c.listeners, [{ port: 1883, address: "127.0.0.1" }]);
  assert.equal(c.auth, { allowAnonymous: true, anonymousLoopbackOnly: true, passwords: undefined, acl: undefined });
  assert.is(c.retainAvailable, true);
  assert.is(c.persistence, false);
  assert.is(c.persistenceLocation, undefined);
  assert.equal(c.profile, profile);
  assert.is.not(c.profile, profile, "a copy");
  assert.equal(defaultConfig(profile), c);
});

test("02 file without listener: mosquitto's local-only mode", () => {
  setup();
  try {
    const c = conf("# nothing but a comment\n\n   \nretain_available false\n");
    assert.equal(c.listeners, [{ port: 1883, address: "127.0.0.1" }]);
    assert.is(c.auth.allowAnonymous, true);
    assert.is(c.auth.anonymousLoopbackOnly, false);
    assert.is(c.retainAvailable, false);
    assert.is(conf("allow_anonymous false\n").auth.allowAnonymous, false);
  } finally {
    teardown();
  }
});

// ---------------------------------------------------------------- listeners

test("03 listener lines: several, optional address; anonymous then defaults to false", () => {
  setup();
  try {
    const c = conf("listener 1883\nlistener 8883 192.168.1.10\n");
    assert.equal(c.listeners, [
      { port: 1883, address: undefined },
      { port: 8883, address: "192.168.1.10" },
    ]);
    assert.is(c.auth.allowAnonymous, false, "mosquitto 2.0: false once a listener is configured");
    assert.is(c.auth.anonymousLoopbackOnly, false);
    assert.is(conf("listener 1883\nallow_anonymous true\n").auth.allowAnonymous, true);
  } finally {
    teardown();
  }
});

test("04 port and bind_address set mosquitto's default listener", () => {
  setup();
  try {
    assert.equal(conf("port 1884\n").listeners, [{ port: 1884, address: undefined }]);
    assert.equal(conf("bind_address 10.0.0.1\n").listeners, [{ port: 1883, address: "10.0.0.1" }]);
    assert.equal(conf("bind_address 10.0.0.1\nport 1999\nlistener 2000\n").listeners, [
      { port: 1999, address: "10.0.0.1" },
      { port: 2000, address: undefined },
    ]);
    assert.is(conf("port 1884\n").auth.allowAnonymous, false);
  } finally {
    teardown();
  }
});

test("05 listener errors", () => {
  setup();
  try {
    confError("listener\n", 1, '"listener" takes 1 or 2 arguments, got 0');
    confError("listener 1 2 3\n", 1, '"listener" takes 1 or 2 arguments, got 3');
    confError("\nlistener abc\n", 2, '"listener" needs an integer, got "abc"');
    confError("listener 0\n", 1, '"listener" must be between 1 and 65535, got 0');
    confError("listener 65536\n", 1, '"listener" must be between 1 and 65535, got 65536');
    confError("listener 1883\nlistener 1883\n", 2, "duplicate listener on port 1883");
    confError("port\n", 1, '"port" takes 1 argument, got 0');
    confError("port 1 2\n", 1, '"port" takes 1 argument, got 2');
    confError("port -5\n", 1, '"port" must be between 1 and 65535, got -5');
    confError("bind_address\n", 1, '"bind_address" takes 1 argument, got 0');
  } finally {
    teardown();
  }
});

// ---------------------------------------------------------------- limits

test("06 limits override a copy of the profile", () => {
  setup();
  try {
    const profile = hostProfile();
    const before = JSON.stringify(profile);
    const c = loadConfig(
      put("broker.conf", "max_connections 5\nmax_inflight_messages 7\nmax_queued_messages 9\nmessage_size_limit 4096\n"),
      profile,
    );
    assert.is(c.profile.maxClients, 5);
    assert.is(c.profile.maxInflight, 7);
    assert.is(c.profile.maxQueued, 9);
    assert.is(c.profile.maxPayloadSize, 4096);
    assert.is(c.profile.maxPacketSize, profile.maxPacketSize, "untouched fields kept");
    assert.is(JSON.stringify(profile), before, "input profile not mutated");
  } finally {
    teardown();
  }
});

test("07 limits: -1 / 0 mean the profile's value (mosquitto's unlimited)", () => {
  setup();
  try {
    const p = hostProfile();
    const c = conf("max_connections -1\nmax_inflight_messages 0\nmax_queued_messages 0\nmessage_size_limit 0\n");
    assert.is(c.profile.maxClients, p.maxClients);
    assert.is(c.profile.maxInflight, p.maxInflight);
    assert.is(c.profile.maxQueued, p.maxQueued);
    assert.is(c.profile.maxPayloadSize, 0);
    assert.is(conf("max_connections 0\n").profile.maxClients, p.maxClients);
    // a later line wins
    assert.is(conf("max_connections 3\nmax_connections 4\n").profile.maxClients, 4);
  } finally {
    teardown();
  }
});

test("08 limit errors", () => {
  setup();
  try {
    confError("max_connections -2\n", 1, '"max_connections" must be between -1 and 16777215, got -2');
    confError("max_connections ten\n", 1, '"max_connections" needs an integer, got "ten"');
    confError("max_connections 1.5\n", 1, '"max_connections" needs an integer, got "1.5"');
    confError("max_inflight_messages -1\n", 1, '"max_inflight_messages" must be between 0 and 65535, got -1');
    confError("max_inflight_messages 65536\n", 1, '"max_inflight_messages" must be between 0 and 65535, got 65536');
    confError("max_queued_messages\n", 1, '"max_queued_messages" takes 1 argument, got 0');
    confError("max_queued_messages -3\n", 1, '"max_queued_messages" must be between 0 and 16777215, got -3');
    confError("message_size_limit 268435456\n", 1, '"message_size_limit" must be between 0 and 268435455, got 268435456');
    confError("message_size_limit 1 2\n", 1, '"message_size_limit" takes 1 argument, got 2');
  } finally {
    teardown();
  }
});

// ---------------------------------------------------------------- booleans, persistence

test("09 booleans: allow_anonymous, retain_available, persistence", () => {
  setup();
  try {
    const c = conf("listener 1883\nallow_anonymous true\nretain_available false\npersistence true\n");
    assert.is(c.auth.allowAnonymous, true);
    assert.is(c.retainAvailable, false);
    assert.is(c.persistence, true);
    const d = conf("allow_anonymous 0\nretain_available 1\npersistence false\n");
    assert.is(d.auth.allowAnonymous, false);
    assert.is(d.retainAvailable, true);
    assert.is(d.persistence, false);
    confError("allow_anonymous yes\n", 1, '"allow_anonymous" needs true or false, got "yes"');
    confError("retain_available\n", 1, '"retain_available" takes 1 argument, got 0');
    confError("persistence true false\n", 1, '"persistence" takes 1 argument, got 2');
  } finally {
    teardown();
  }
});

test("10 persistence_location resolves against the config folder", () => {
  setup();
  try {
    assert.is(conf("persistence_location data/store\n").persistenceLocation, path.join(dir, "data", "store"));
    assert.is(conf("persistence_location /var/lib/mqtt\n").persistenceLocation, "/var/lib/mqtt");
    assert.is(conf("persistence_location my data/\n").persistenceLocation, path.join(dir, "my data"));
    confError("persistence_location\n", 1, '"persistence_location" needs a path');
    confError("persistence_location a\npersistence_location b\n", 2, 'duplicate "persistence_location"');
  } finally {
    teardown();
  }
});

test("10b autosave_interval sets how often persisted state is written", () => {
  setup();
  try {
    assert.is(conf("autosave_interval 5\n").profile.persistIntervalMs, 5000);
    confError("autosave_interval 0\n", 1, '"autosave_interval" must be between 1 and 86400, got 0');
    confError("autosave_interval soon\n", 1, '"autosave_interval" needs an integer, got "soon"');
  } finally {
    teardown();
  }
});

// ---------------------------------------------------------------- password_file, acl_file

test("11 password_file and acl_file, relative to the config file's folder", () => {
  setup();
  try {
    put("etc/pw", formatPasswordLine("alice", hashPassword("wonder")) + "\n");
    put("etc/acl", "user alice\ntopic read a/#\n");
    const file = put("etc/broker.conf", "listener 1883\npassword_file pw\nacl_file ./acl\n");
    // load from another working directory's point of view: only the config's folder matters
    const c = loadConfig(path.relative(process.cwd(), file), hostProfile());
    assert.ok(c.auth.passwords !== undefined);
    assert.ok(checkPassword(c.auth.passwords!["ualice"], "wonder", nodeHashes));
    assert.equal(c.auth.acl!.users["ualice"], [{ access: ACCESS_READ, filter: "a/#" }]);
    assert.is(c.auth.allowAnonymous, false);
  } finally {
    teardown();
  }
});

test("12 password_file / acl_file errors name the file", () => {
  setup();
  try {
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    confError("password_file missing.pw\n", 1, new RegExp('cannot read password_file "' + esc(path.join(dir, "missing.pw")) + '": ENOENT'));
    confError("\nacl_file missing.acl\n", 2, new RegExp('cannot read acl_file "' + esc(path.join(dir, "missing.acl")) + '": ENOENT'));
    mkdirSync(path.join(dir, "adir"));
    confError("acl_file adir\n", 1, /cannot read acl_file ".*adir": not a file/);
    const pw = put("pw", "alice:plain\n");
    throwsWith(() => conf("password_file pw\n"), pw + ':1: password for "alice" is not hashed; run esp-mqtt-broker passwd');
    const acl = put("acl", "topic a\nbogus\n");
    throwsWith(() => conf("acl_file acl\n"), acl + ':2: unknown keyword "bogus" (topic, pattern or user)');
    confError("password_file\n", 1, '"password_file" needs a path');
    put("pw2", "");
    confError("password_file pw2\npassword_file pw2\n", 2, 'duplicate "password_file"');
  } finally {
    teardown();
  }
});

// ---------------------------------------------------------------- unknown options, unreadable file

test("13 unknown option and unreadable config file", () => {
  setup();
  try {
    confError("listener 1883\n\n# c\n\n\n\nfoo bar\n", 7, 'unknown option "foo"');
    confError("listener 1883 # inline comments are not comments\n", 1, '"listener" takes 1 or 2 arguments, got 7');
    const missing = path.join(dir, "nope.conf");
    throwsWith(() => loadConfig(missing, hostProfile()), new RegExp("^" + missing.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + ": cannot read configuration file"));
  } finally {
    teardown();
  }
});

test("14 error message uses the path as given: broker.conf:7", () => {
  setup();
  const cwd = process.cwd();
  try {
    put("broker.conf", "listener 1883\n\n\n\n\n\nfoo\n");
    process.chdir(dir);
    throwsWith(() => loadConfig("broker.conf", hostProfile()), 'broker.conf:7: unknown option "foo"');
  } finally {
    process.chdir(cwd);
    teardown();
  }
});

// ---------------------------------------------------------------- profiles

test("15 loadProfile: boards/host.json and boards/esp32.json", () => {
  const host = loadProfile("host");
  assert.is(host.name, "host");
  assert.equal(host, JSON.parse(readFileSync(path.join(BOARDS, "host.json"), "utf8")));
  const esp = loadProfile("esp32");
  assert.is(esp.name, "esp32");
  assert.is(esp.maxClients, 8);
  for (const field of PROFILE_FIELDS) {
    assert.type((esp as unknown as { [k: string]: unknown })[field], "number", field);
  }
  // by path too
  assert.equal(loadProfile(path.join(BOARDS, "esp32.json")), esp);
});

test("16 loadProfile: broken profiles are clear errors", () => {
  setup();
  try {
    const good = hostProfile() as unknown as { [k: string]: unknown };
    const neg = put("neg.json", JSON.stringify(Object.assign({}, good, { maxClients: -1 })));
    throwsWith(() => loadProfile(neg), neg + ': "maxClients" must be a non-negative integer, got -1');
    const frac = put("frac.json", JSON.stringify(Object.assign({}, good, { tickMs: 2.5 })));
    throwsWith(() => loadProfile(frac), frac + ': "tickMs" must be a non-negative integer, got 2.5');
    const str = put("str.json", JSON.stringify(Object.assign({}, good, { maxInflight: "4" })));
    throwsWith(() => loadProfile(str), str + ': "maxInflight" must be a non-negative integer, got "4"');
    const partial = Object.assign({}, good);
    delete partial.memoryBudget;
    const miss = put("miss.json", JSON.stringify(partial));
    throwsWith(() => loadProfile(miss), miss + ': missing "memoryBudget"');
    const bad = put("bad.json", "{ not json");
    throwsWith(() => loadProfile(bad), new RegExp("invalid JSON"));
    const arr = put("arr.json", "[1,2]");
    throwsWith(() => loadProfile(arr), arr + ": a board profile must be a JSON object");
    const noName = Object.assign({}, good);
    delete noName.name;
    assert.is(loadProfile(put("myboard.json", JSON.stringify(noName))).name, "myboard");
    throwsWith(() => loadProfile("no-such-board"), /^unknown board "no-such-board" \(known: .*esp32.*host/);
    throwsWith(() => loadProfile("../etc"), /^cannot read|^invalid board name|board profile/);
  } finally {
    teardown();
  }
});

// ---------------------------------------------------------------- websockets

test("17 protocol websockets and http_dir apply to the listener they follow", () => {
  setup();
  try {
    mkdirSync(path.join(dir, "www"));
    put("s.crt", "x");
    put("s.key", "x");
    const c = conf("listener 1883\nlistener 9001 127.0.0.1\nprotocol websockets\nhttp_dir www\n" +
      "listener 9443\nprotocol websockets\ncertfile s.crt\nkeyfile s.key\nlistener 1884\nprotocol mqtt\n");
    assert.equal(c.listeners.map((l) => l.port), [1883, 9001, 9443, 1884]);
    assert.equal(c.listeners.map(isWebSocketListener), [false, true, true, false]);
    assert.is(listenerHttpDir(c.listeners[1]), path.join(dir, "www"));
    assert.is(listenerHttpDir(c.listeners[2]), undefined);
    assert.is(listenerTls(c.listeners[1]), undefined);
    assert.is(listenerTls(c.listeners[2])!.certfile, path.join(dir, "s.crt"));
    // before any listener: the default one, as certfile is
    const d = conf("protocol websockets\nport 9001\n");
    assert.equal(d.listeners.map((l) => l.port), [9001]);
    assert.ok(isWebSocketListener(d.listeners[0]));
  } finally {
    teardown();
  }
});

test("18 protocol / http_dir mistakes: FILE:LINE: what is wrong", () => {
  setup();
  try {
    const f = path.join(dir, "broker.conf");
    throwsWith(() => conf("listener 9001\nprotocol websocket\n"), f + ':2: "protocol" must be mqtt or websockets, got "websocket"');
    throwsWith(() => conf("listener 9001\nprotocol\n"), f + ':2: "protocol" takes 1 argument, got 0');
    throwsWith(() => conf("listener 9001\nprotocol websockets\nhttp_dir nowhere\n"),
      f + ':3: http_dir "' + path.join(dir, "nowhere") + '" is not a folder');
    put("www/index.html", "hi");
    throwsWith(() => conf("listener 1883\nhttp_dir www\n"), f + ':2: http_dir needs "protocol websockets" on the same listener');
  } finally {
    teardown();
  }
});

// ---- bridges (issue 14): mosquitto's names and defaults ----

test("19 bridge: connection, address, topic with prefixes and mosquitto's defaults", () => {
  setup();
  try {
    const c = conf([
      "listener 1883",
      "connection house",
      "address 192.168.1.10",
      "topic sensors/# out 1 home/ site1/",
      'topic cmd/# in 2 "" remote/',
      "topic # both",
      'topic "" out 0 a/b c/d',
      "",
    ].join("\n"));
    const b = (c.bridges ?? [])[0];
    assert.is(b.name, "house");
    assert.is(b.clientId, "house", "the connection name is the remote client id");
    assert.equal(b.addresses, [{ host: "192.168.1.10", port: 1883 }]);
    assert.equal(b.topics, [
      { pattern: "sensors/#", direction: 1, qos: 1, localPrefix: "home/", remotePrefix: "site1/" },
      { pattern: "cmd/#", direction: 2, qos: 2, localPrefix: "", remotePrefix: "remote/" },
      { pattern: "#", direction: 3, qos: 0, localPrefix: "", remotePrefix: "" },
      { pattern: "", direction: 1, qos: 0, localPrefix: "a/b", remotePrefix: "c/d" },
    ]);
    assert.is(b.cleanSession, false);
    assert.is(b.keepalive, 60);
    assert.is(b.restartBaseMs, 5000);
    assert.is(b.restartCapMs, 30000);
    assert.is(b.notifications, true);
    assert.is(b.notificationTopic, "$SYS/broker/connection/house/state");
    assert.is(b.tryPrivate, true);
    assert.is(b.username, undefined);
  } finally {
    teardown();
  }
});

test("20 bridge: every option given", () => {
  setup();
  try {
    put("ca.crt", "x");
    put("me.crt", "x");
    put("me.key", "x");
    const c = conf([
      "connection up", "addresses a.example:8883 b.example:1884", "topic x out", "remote_clientid board-7", "cleansession true",
      "keepalive_interval 30", "restart_timeout 20", "remote_username u", "remote_password p", "notifications false",
      "notification_topic bridges/up", "try_private false", "bridge_protocol_version mqttv311", "start_type automatic",
      "bridge_cafile ca.crt", "bridge_certfile me.crt", "bridge_keyfile me.key", "bridge_insecure true",
      "connection second", "address 10.0.0.1:1999", "topic y in", "",
    ].join("\n"));
    const [b, second] = c.bridges ?? [];
    assert.equal(b.addresses, [{ host: "a.example", port: 8883 }, { host: "b.example", port: 1884 }]);
    assert.is(b.clientId, "board-7");
    assert.is(b.cleanSession, true);
    assert.is(b.keepalive, 30);
    assert.equal([b.restartBaseMs, b.restartCapMs], [20000, 0], "one number: a constant");
    assert.equal([b.username, b.password], ["u", "p"]);
    assert.is(b.notifications, false);
    assert.is(b.notificationTopic, "bridges/up");
    assert.is(b.tryPrivate, false);
    assert.equal((b as any).tls, { cafile: path.join(dir, "ca.crt"), certfile: path.join(dir, "me.crt"), keyfile: path.join(dir, "me.key"), insecure: true });
    assert.is(second.name, "second");
    assert.is(second.notificationTopic, "$SYS/broker/connection/second/state");
  } finally {
    teardown();
  }
});

test("21 bridge mistakes: FILE:LINE: what is wrong", () => {
  setup();
  try {
    const head = "connection c\naddress h\n";
    confError("address h\n", 1, '"address" needs a "connection NAME" line before it');
    confError(head + "topic a sideways\n", 3, '"topic" direction must be out, in or both, got "sideways"');
    confError(head + "topic a out 3\n", 3, '"topic" must be between 0 and 2, got 3');
    confError(head + "topic a out 1 pre/\n", 3, '"topic" with a local prefix needs a remote prefix too');
    confError(head + "topic a out 1 pre/+ x/\n", 3, '"topic" prefixes may not hold + or #');
    confError(head + 'topic "" out 1 "" ""\n', 3, '"topic" "" needs a local or remote prefix');
    confError(head + "topic a/#/b\n", 3, '"topic" "a/#/b" is not a valid topic filter with its prefixes');
    confError(head + "topic a\nkeepalive_interval 2\n", 4, '"keepalive_interval" must be between 5 and 65535, got 2');
    confError(head + "topic a\nrestart_timeout 30 10\n", 4, '"restart_timeout" cap 10 is below its base 30');
    confError(head + "topic a\nbridge_protocol_version mqttv50\n", 4, '"bridge_protocol_version" mqttv50 does not apply: this broker bridges with mqttv311 only');
    confError(head + "topic a\nstart_type lazy\n", 4, '"start_type" lazy does not apply: only automatic is supported');
    confError(head + "topic a\nround_robin true\n", 4, '"round_robin" (a mosquitto bridge option) is not supported by this broker');
    confError(head + "topic a\ncleansession maybe\n", 4, '"cleansession" needs true or false, got "maybe"');
    confError(head + "topic a\naddress other\n", 4, 'duplicate "address" in connection c');
    confError(head + "topic a\nconnection c\n", 4, 'duplicate connection "c"');
    confError("connection c\naddress h:99999\n", 2, '"address" port must be between 1 and 65535, got 99999');
    confError(head + "topic a\nremote_password p\n", 4, '"remote_password" needs "remote_username"');
    confError("connection c\ntopic a\n", 1, 'connection c needs an "address"');
    confError(head, 1, 'connection c needs at least one "topic"');
    confError(head + "topic a\nbridge_insecure true\n", 1, "connection c: TLS needs bridge_cafile");
    confError(head + "topic a\nbridge_cafile nowhere.crt\n", 4, /cannot read bridge_cafile/);
  } finally {
    teardown();
  }
});

test.run();
