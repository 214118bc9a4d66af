import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash, pbkdf2Sync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { aclAllowsSubscribe, aclAllowsTopic, compileAcl, filterCovers } from "../../firmware/core/auth/acl";
import { checkPassword, digestsEqual, makePasswordEntry } from "../../firmware/core/auth/passwords";
import { ACCESS_NONE, ACCESS_READ, ACCESS_READWRITE, ACCESS_WRITE, AclTable, PasswordEntry } from "../../firmware/core/auth/types";
import { Hashes } from "../../firmware/core/platform";
import { parseAclText } from "../../host-sim/acl-file";
import { ConfigError } from "../../host-sim/config";
import { nodeHashes } from "../../host-sim/hashes";
import { runPasswd, PasswdIo } from "../../host-sim/passwd-cli";
import { formatPasswordLine, hashPassword, parsePasswordFile, parsePasswordHash, parsePasswordText } from "../../host-sim/password-file";

/** UTF-8 bytes of a JS string, one char per byte (how the core sees a CONNECT password). */
function bin(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

function entryOf(user: string, hashText: string): PasswordEntry {
  const e = parsePasswordHash(user, hashText);
  if (typeof e === "string") throw new Error(e);
  return e;
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

// ---------------------------------------------------------------- passwords

const PASSWORD = "s3cret-ü";
const SALT = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
// Vectors computed with Python's hashlib (an implementation independent of node:crypto):
// sha256(pw + salt), sha512(pw + salt), pbkdf2_hmac("sha512", pw, salt, 101).
const VECTOR_5 = "$5$AQIDBAUGBwgJCgsM$ftJnIh5ZHGaCYJ+lhRBKYbpB+Pry68T2HIXIXnJyS3U=";
const VECTOR_6 =
  "$6$AQIDBAUGBwgJCgsM$cFn9Ln0gqsaMsM/NQcdQHtfuuP9iNqYYU3oblTPOJ4OyY12Am8cVxnP7e+dA7XaNEjodX/SBGfezrGoP99lbGw==";
const VECTOR_7 =
  "$7$101$AQIDBAUGBwgJCgsM$powgCZgt/D43F3m0KYmfeCdhi5zH0ZVz091l2r8hUBK33U9BIQhV3KWq71odQv0sc0pdUA2514HmyL8lmiq+Ug==";
// sha512(salt + pw): the wrong order must not verify.
const VECTOR_6_REVERSED =
  "$6$AQIDBAUGBwgJCgsM$6Epd80gNSJtfMTO5PM4S6Nf6dqRELhW8k+oYofvMZcA0pF14KCaUqwU+GMoWPn4K0gOHQubgDSTmFzQASwsLTw==";

test("01 password: $5$ vector verifies, wrong password fails", () => {
  const e = entryOf("alice", VECTOR_5);
  assert.is(e.algo, "sha256");
  assert.is(e.salt, SALT.toString("latin1"));
  assert.ok(checkPassword(e, bin(PASSWORD), nodeHashes));
  assert.not.ok(checkPassword(e, bin("s3cret-u"), nodeHashes));
  assert.not.ok(checkPassword(e, "", nodeHashes));
});

test("02 password: $6$ vector is sha512(password + salt) as mosquitto's pw__digest", () => {
  const e = entryOf("alice", VECTOR_6);
  assert.is(e.algo, "sha512");
  assert.ok(checkPassword(e, bin(PASSWORD), nodeHashes));
  assert.not.ok(checkPassword(e, bin(PASSWORD + "x"), nodeHashes));
  assert.not.ok(checkPassword(entryOf("alice", VECTOR_6_REVERSED), bin(PASSWORD), nodeHashes));
});

test("03 password: $6$ and $7$ made with node:crypto like mosquitto_passwd", () => {
  const salt = Buffer.from("0123456789ab", "latin1");
  const pw = Buffer.from("hunter2", "utf8");
  const h6 = createHash("sha512").update(Buffer.concat([pw, salt])).digest();
  const line6 = "bob:$6$" + salt.toString("base64") + "$" + h6.toString("base64");
  const h7 = pbkdf2Sync(pw, salt, 1000, 64, "sha512");
  const line7 = "carol:$7$1000$" + salt.toString("base64") + "$" + h7.toString("base64");
  const table = parsePasswordText(line6 + "\n" + line7 + "\n", "pw");
  assert.ok(checkPassword(table["ubob"], "hunter2", nodeHashes));
  assert.not.ok(checkPassword(table["ubob"], "hunter3", nodeHashes));
  assert.is(table["ucarol"].iterations, 1000);
  assert.ok(checkPassword(table["ucarol"], "hunter2", nodeHashes));
  assert.not.ok(checkPassword(table["ucarol"], "Hunter2", nodeHashes));
});

test("04 password: $7$ vector verifies; iteration count matters", () => {
  const e = entryOf("alice", VECTOR_7);
  assert.is(e.algo, "pbkdf2-sha512");
  assert.is(e.iterations, 101);
  assert.ok(checkPassword(e, bin(PASSWORD), nodeHashes));
  assert.not.ok(checkPassword({ algo: e.algo, salt: e.salt, hash: e.hash, iterations: 100 }, bin(PASSWORD), nodeHashes));
  assert.not.ok(checkPassword({ algo: e.algo, salt: e.salt, hash: e.hash, iterations: 0 }, bin(PASSWORD), nodeHashes));
});

test("05 password: an algorithm the board has no hash for fails", () => {
  const sha256Only: Hashes = { sha256: nodeHashes.sha256 };
  assert.not.ok(checkPassword(entryOf("a", VECTOR_6), bin(PASSWORD), sha256Only));
  assert.not.ok(checkPassword(entryOf("a", VECTOR_7), bin(PASSWORD), sha256Only));
  assert.ok(checkPassword(entryOf("a", VECTOR_5), bin(PASSWORD), sha256Only));
  const e = entryOf("a", VECTOR_5);
  assert.not.ok(checkPassword({ algo: "md5", salt: e.salt, hash: e.hash, iterations: 0 }, bin(PASSWORD), nodeHashes));
});

test("06 password: digest comparison visits every byte and checks length", () => {
  assert.ok(digestsEqual("\x00\xff\x10", "\x00\xff\x10"));
  assert.not.ok(digestsEqual("\x00\xff\x10", "\x00\xff\x11"));
  assert.not.ok(digestsEqual("\x01\xff\x10", "\x00\xff\x10"));
  assert.not.ok(digestsEqual("\x00\xff", "\x00\xff\x10"));
  // differences that would cancel out in a plain sum must not
  assert.not.ok(digestsEqual("\x01\x00", "\x00\x01"));
});

test("07 password: makePasswordEntry / hashPassword round trip through the file format", () => {
  const made = makePasswordEntry("pw", "saltsaltsalt", nodeHashes);
  assert.is(made.algo, "sha256");
  assert.is(made.hash, createHash("sha256").update("pwsaltsaltsalt", "latin1").digest().toString("latin1"));
  for (const algo of ["sha256", "sha512", "pbkdf2-sha512"]) {
    const e = hashPassword("pässword", algo);
    assert.is(e.salt.length, 12, algo + " salt length");
    const line = formatPasswordLine("dave", e);
    assert.match(line, algo === "sha256" ? /^dave:\$5\$/ : algo === "sha512" ? /^dave:\$6\$/ : /^dave:\$7\$101\$/);
    const back = parsePasswordText(line + "\n", "pw")["udave"];
    assert.equal(back, e);
    assert.ok(checkPassword(back, bin("pässword"), nodeHashes), algo);
    assert.not.ok(checkPassword(back, bin("password"), nodeHashes), algo);
  }
  const a = hashPassword("same");
  const b = hashPassword("same");
  assert.is.not(a.salt, b.salt, "fresh salt each time");
});

test("08 password file: comments, blank lines, CRLF; clear text refused", () => {
  const table = parsePasswordText("# users\n\nalice:" + VECTOR_5 + "\r\n  bob : " + VECTOR_6 + "\n", "pw");
  assert.equal(Object.keys(table).sort(), ["ualice", "ubob"]);
  throwsWith(
    () => parsePasswordText("alice:" + VECTOR_5 + "\n# x\nbob:hunter2\n", "/etc/pw"),
    '/etc/pw:3: password for "bob" is not hashed; run esp-mqtt-broker passwd',
  );
  throwsWith(() => parsePasswordText("bob\n", "pw"), 'pw:1: expected "user:hash"');
  throwsWith(() => parsePasswordText("bob:$1$abc$def\n", "pw"), /^pw:1: unsupported password hash type "\$1\$"/);
  throwsWith(() => parsePasswordText("bob:$6$AQID\n", "pw"), /^pw:1: invalid \$6\$ password hash/);
  throwsWith(() => parsePasswordText("bob:$7$x$AQID$AQID\n", "pw"), /^pw:1: invalid \$7\$ password hash/);
  throwsWith(() => parsePasswordText("bob:$5$AQID$AQID\n", "pw"), /^pw:1: invalid digest/);
  throwsWith(() => parsePasswordText("bob:$5$!!$" + VECTOR_5.split("$")[3] + "\n", "pw"), /^pw:1: invalid salt/);
  throwsWith(() => parsePasswordText("a:" + VECTOR_5 + "\na:" + VECTOR_5 + "\n", "pw"), 'pw:2: user "a" appears twice');
});

test("09 password file: unreadable file is an error naming it", () => {
  throwsWith(() => parsePasswordFile("/nonexistent/dir/pw"), /^\/nonexistent\/dir\/pw: cannot read password file/);
});

test("10 password file: user names are keyed as UTF-8 binary strings", () => {
  const table = parsePasswordText("jürgen:" + VECTOR_5 + "\n", "pw");
  assert.ok(table["u" + bin("jürgen")] !== undefined);
  assert.is(table["ujürgen"], undefined);
});

// ---------------------------------------------------------------- acl: evaluation

function topicBytes(topic: string): { buf: Uint8Array; off: number; len: number } {
  // place the topic at an offset inside a larger buffer: the check must honour off/len
  const t = Buffer.from(topic, "utf8");
  const buf = new Uint8Array(t.length + 7);
  buf.fill(0x2f);
  buf.set(t, 3);
  return { buf: buf, off: 3, len: t.length };
}

function allows(rules: ReturnType<typeof compileAcl>, topic: string, access: number): boolean {
  const t = topicBytes(topic);
  return aclAllowsTopic(rules, t.buf, t.off, t.len, access);
}

const ACL_TEXT = [
  "# anonymous",
  "topic read public/#",
  "topic write public/anon-inbox",
  "",
  "user alice",
  "topic readwrite alice/#",
  "topic read sensors/+/temp",
  "topic deny alice/secret",
  "topic write shared/space name",
  "",
  "user admin",
  "topic #",
  "topic $SYS/#",
  "",
  "pattern write devices/%c/status",
  "pattern read users/%u/#",
  "pattern deny devices/%c/locked",
].join("\n");

test("11 acl: anonymous clients get the section before any user", () => {
  const acl = parseAclText(ACL_TEXT, "acl");
  const anon = compileAcl(acl, "c1", undefined);
  assert.ok(allows(anon, "public/news", ACCESS_READ));
  assert.not.ok(allows(anon, "public/news", ACCESS_WRITE));
  assert.ok(allows(anon, "public/anon-inbox", ACCESS_WRITE));
  assert.not.ok(allows(anon, "alice/x", ACCESS_READ));
  // patterns with %c still apply to anonymous clients, %u ones do not
  assert.ok(allows(anon, "devices/c1/status", ACCESS_WRITE));
  assert.not.ok(allows(anon, "users/c1/x", ACCESS_READ));
  assert.not.ok(allows(anon, "users/%u/x", ACCESS_READ), "the %u pattern is dropped, not kept literally");
  assert.not.ok(anon.some((r) => r.filter.indexOf("%u") >= 0));
});

test("12 acl: user sections, access bits, filters with spaces", () => {
  const acl = parseAclText(ACL_TEXT, "acl");
  const alice = compileAcl(acl, "phone", "alice");
  assert.ok(allows(alice, "alice/notes", ACCESS_READ));
  assert.ok(allows(alice, "alice/notes", ACCESS_WRITE));
  assert.ok(allows(alice, "alice", ACCESS_WRITE), "a/# covers a");
  assert.ok(allows(alice, "sensors/kitchen/temp", ACCESS_READ));
  assert.not.ok(allows(alice, "sensors/kitchen/temp", ACCESS_WRITE));
  assert.not.ok(allows(alice, "sensors/kitchen/hum", ACCESS_READ));
  assert.ok(allows(alice, "shared/space name", ACCESS_WRITE));
  assert.not.ok(allows(alice, "public/news", ACCESS_READ), "anonymous rules are not alice's");
  const bob = compileAcl(acl, "bob-phone", "bob");
  assert.not.ok(allows(bob, "alice/notes", ACCESS_READ));
  assert.not.ok(allows(bob, "public/news", ACCESS_READ), "a named user without a section gets no anonymous rules");
  assert.ok(allows(bob, "users/bob/inbox", ACCESS_READ), "but patterns apply");
});

test("13 acl: deny beats allow of the same list and every pattern", () => {
  const acl = parseAclText(ACL_TEXT, "acl");
  const alice = compileAcl(acl, "phone", "alice");
  assert.not.ok(allows(alice, "alice/secret", ACCESS_READ), "deny listed after the allow still wins");
  assert.not.ok(allows(alice, "alice/secret", ACCESS_WRITE));
  assert.ok(allows(alice, "alice/secret/deeper", ACCESS_READ), "deny is a filter, not a prefix");
  const dev = compileAcl(acl, "locked", "someone");
  assert.not.ok(allows(dev, "devices/locked/locked", ACCESS_WRITE));
  assert.ok(allows(dev, "devices/locked/status", ACCESS_WRITE));
  // a user topic allow is decided before the pattern deny (mosquitto's order)
  const t = parseAclText("user u\ntopic devices/#\npattern deny devices/%c/#\n", "acl");
  assert.ok(allows(compileAcl(t, "d1", "u"), "devices/d1/x", ACCESS_WRITE));
  assert.not.ok(allows(compileAcl(t, "d1", "v"), "devices/d1/x", ACCESS_WRITE));
});

test("14 acl: patterns substitute %c and %u", () => {
  const acl = parseAclText(ACL_TEXT, "acl");
  const rules = compileAcl(acl, "sensor-7", "carol");
  assert.ok(allows(rules, "devices/sensor-7/status", ACCESS_WRITE));
  assert.not.ok(allows(rules, "devices/sensor-8/status", ACCESS_WRITE));
  assert.not.ok(allows(rules, "devices/sensor-7/status", ACCESS_READ));
  assert.ok(allows(rules, "users/carol/a/b", ACCESS_READ));
  assert.not.ok(allows(rules, "users/dave/a", ACCESS_READ));
  const inside = parseAclText("pattern x/pre-%c-%u/y\n", "acl");
  assert.ok(allows(compileAcl(inside, "id", "me"), "x/pre-id-me/y", ACCESS_WRITE), "textual substitution, as mosquitto 2.0");
  assert.equal(compileAcl(inside, "id", "me"), [{ access: ACCESS_READWRITE, filter: "x/pre-id-me/y" }]);
});

test("15 acl: wildcard user names and client ids get no patterns", () => {
  const acl = parseAclText(ACL_TEXT, "acl");
  const plusUser = compileAcl(acl, "c", "+");
  assert.not.ok(allows(plusUser, "users/x/a", ACCESS_READ));
  assert.equal(plusUser, []);
  assert.equal(compileAcl(acl, "c", "a#b"), []);
  const hashId = compileAcl(acl, "#", "carol");
  assert.not.ok(allows(hashId, "devices/x/status", ACCESS_WRITE));
  assert.not.ok(allows(hashId, "users/carol/a", ACCESS_READ), "all patterns go, not only %c ones");
  // the client's own rules still apply
  const alice = compileAcl(acl, "a+b", "alice");
  assert.ok(allows(alice, "alice/x", ACCESS_READ));
  assert.not.ok(allows(alice, "users/alice/x", ACCESS_READ));
  // '/' is refused too (mosquitto 1.x's "+#/"): "a/b" would reach into client "a"'s subtree
  const slash = compileAcl(acl, "a/b", "u/v");
  assert.not.ok(allows(slash, "users/u/v/x", ACCESS_READ));
  assert.not.ok(allows(compileAcl(acl, "a/b", "carol"), "devices/a/b/status", ACCESS_WRITE));
  assert.ok(allows(compileAcl(acl, "ab", "carol"), "devices/ab/status", ACCESS_WRITE));
});

test("16 acl: $ topics need a rule starting with $", () => {
  const acl = parseAclText(ACL_TEXT, "acl");
  const admin = compileAcl(acl, "adm", "admin");
  assert.ok(allows(admin, "anything/at/all", ACCESS_WRITE));
  assert.ok(allows(admin, "$SYS/broker/uptime", ACCESS_READ));
  const onlyHash = compileAcl(parseAclText("topic #\n", "acl"), "c", undefined);
  assert.not.ok(allows(onlyHash, "$SYS/broker/uptime", ACCESS_READ));
  assert.ok(allows(onlyHash, "a", ACCESS_READ));
});

test("17 acl: no rules deny everything", () => {
  const empty: AclTable = { anonymous: [], users: {}, patterns: [] };
  const rules = compileAcl(empty, "c", "u");
  assert.not.ok(allows(rules, "a", ACCESS_READ));
  assert.not.ok(aclAllowsSubscribe(rules, "a"));
});

// ---------------------------------------------------------------- acl: subscriptions

// [acl filter, subscription filter, covered] after mosquitto_sub_matches_acl
const COVERS: [string, string, boolean][] = [
  ["a/#", "a/#", true],
  ["#", "a/#", true],
  ["#", "#", true],
  ["a/#", "#", false],
  ["a/+", "a/+", true],
  ["a/#", "a/+", true],
  ["a/+", "a/#", false],
  ["a/+", "a/b", true],
  ["a/+", "a/b/c", false],
  ["a/#", "a", true],
  ["a/#", "a/b/c", true],
  ["a/b", "a/b", true],
  ["a/b", "a/c", false],
  ["a/b", "a/+", false],
  ["+", "#", false],
  ["+", "a", true],
  ["+/b", "+/b", true],
  ["+/b", "a/b", true],
  ["+/b", "a/c", false],
  ["a/+/#", "a/b", true],
  ["a/+/#", "a/b/c/d", true],
  ["a/+", "a/", true],
  ["a/b/#", "a/+/#", false],
  ["#", "$SYS/#", false],
  ["+/#", "$SYS/broker", false],
  ["$SYS/#", "$SYS/#", true],
  ["$SYS/#", "$SYS/broker/+", true],
  ["$SYS/#", "a/b", false],
  ["ab", "a", false],
  ["a", "ab", false],
];

test("18 acl: filterCovers table (mosquitto_sub_matches_acl)", () => {
  for (const [aclFilter, sub, expected] of COVERS) {
    assert.is(filterCovers(aclFilter, sub), expected, aclFilter + " covers " + sub);
  }
});

test("19 acl: subscribe needs a read rule covering the whole filter", () => {
  const acl = parseAclText(ACL_TEXT, "acl");
  const alice = compileAcl(acl, "phone", "alice");
  assert.ok(aclAllowsSubscribe(alice, "alice/#"));
  assert.ok(aclAllowsSubscribe(alice, "alice/+"));
  assert.ok(aclAllowsSubscribe(alice, "sensors/+/temp"));
  assert.ok(aclAllowsSubscribe(alice, "sensors/hall/temp"));
  assert.not.ok(aclAllowsSubscribe(alice, "sensors/#"));
  assert.not.ok(aclAllowsSubscribe(alice, "#"));
  assert.not.ok(aclAllowsSubscribe(alice, "shared/space name"), "write-only rule");
  assert.not.ok(aclAllowsSubscribe(alice, "alice/secret"), "deny covering the filter");
  assert.ok(aclAllowsSubscribe(alice, "users/alice/#"), "pattern read rule");
  const admin = compileAcl(acl, "adm", "admin");
  assert.ok(aclAllowsSubscribe(admin, "#"));
  assert.ok(aclAllowsSubscribe(admin, "$SYS/#"));
  const onlyHash = compileAcl(parseAclText("topic read #\n", "acl"), "c", undefined);
  assert.ok(aclAllowsSubscribe(onlyHash, "#"));
  assert.not.ok(aclAllowsSubscribe(onlyHash, "$SYS/#"), "# does not imply $SYS");
  const wildcardDeny = compileAcl(parseAclText("topic deny #\ntopic read a/#\n", "acl"), "c", undefined);
  assert.not.ok(aclAllowsSubscribe(wildcardDeny, "a/b"));
});

// ---------------------------------------------------------------- acl file

test("20 acl file: sections, default access, binary filters, patterns anywhere", () => {
  const t = parseAclText("topic a\nuser bob\ntopic read b/#\npattern deny c/%u\nuser  jürgen \ntopic write d/ü\n", "acl");
  assert.equal(t.anonymous, [{ access: ACCESS_READWRITE, filter: "a" }]);
  assert.equal(t.users["ubob"], [{ access: ACCESS_READ, filter: "b/#" }]);
  assert.equal(t.patterns, [{ access: ACCESS_NONE, filter: "c/%u" }]);
  assert.equal(t.users["u" + bin("jürgen")], [{ access: ACCESS_WRITE, filter: bin("d/ü") }]);
  // a later `user` line for the same name appends
  const again = parseAclText("user a\ntopic x\nuser b\ntopic y\nuser a\ntopic z\n", "acl");
  assert.equal(again.users["ua"].map((r) => r.filter), ["x", "z"]);
  // one word after the keyword is the filter, even if it reads like an access word
  assert.equal(parseAclText("topic read\n", "acl").anonymous, [{ access: ACCESS_READWRITE, filter: "read" }]);
});

test("21 acl file: errors carry FILE:LINE", () => {
  throwsWith(() => parseAclText("# c\ntopic\n", "/x/acl"), '/x/acl:2: missing topic filter after "topic"');
  throwsWith(() => parseAclText("topic rw a/b\n", "acl"), 'acl:1: invalid access "rw" (read, write, readwrite or deny)');
  throwsWith(() => parseAclText("\n\nuser\n", "acl"), 'acl:3: missing user name after "user"');
  throwsWith(() => parseAclText("topics a\n", "acl"), 'acl:1: unknown keyword "topics" (topic, pattern or user)');
  throwsWith(() => parseAclText("topic a/#/b\n", "acl"), /^acl:1: "#" must be the last level/);
  throwsWith(() => parseAclText("pattern read a/b+\n", "acl"), /^acl:1: "\+" must be a whole level/);
});

// ---------------------------------------------------------------- passwd CLI

function fakeIo(env: { [k: string]: string | undefined }, answers: (string | undefined)[] = []): PasswdIo & { errText: string[] } {
  const errText: string[] = [];
  return {
    env: env,
    out: () => undefined,
    err: (text) => {
      errText.push(text);
    },
    prompt: () => answers.shift(),
    errText: errText,
  };
}

test("22 passwd: create, add, replace, delete round trip", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "passwd-"));
  try {
    const file = path.join(dir, "pw");
    assert.is(runPasswd(["-c", file, "alice"], fakeIo({ MQTT_PASSWORD: "one" })), 0);
    assert.is(statSync(file).mode % 0o1000, 0o600, "owner-only");
    let table = parsePasswordFile(file);
    assert.ok(checkPassword(table["ualice"], "one", nodeHashes));
    assert.match(readFileSync(file, "utf8"), /^alice:\$5\$[^$]+\$[^$]+\n$/);

    // add bob by prompting twice
    assert.is(runPasswd([file, "bob"], fakeIo({}, ["two", "two"])), 0);
    // replace alice's password, keeping bob and a comment line
    writeFileSync(file, "# team\n" + readFileSync(file, "utf8"));
    assert.is(runPasswd([file, "alice"], fakeIo({ MQTT_PASSWORD: "three" })), 0);
    table = parsePasswordFile(file);
    assert.not.ok(checkPassword(table["ualice"], "one", nodeHashes));
    assert.ok(checkPassword(table["ualice"], "three", nodeHashes));
    assert.ok(checkPassword(table["ubob"], "two", nodeHashes));
    const text = readFileSync(file, "utf8");
    assert.is(text.split("\n")[0], "# team");
    assert.is(text.match(/^alice:/gm)!.length, 1);

    // delete
    assert.is(runPasswd(["-D", file, "bob"], fakeIo({})), 0);
    table = parsePasswordFile(file);
    assert.is(table["ubob"], undefined);
    assert.ok(table["ualice"] !== undefined);
    const missing = fakeIo({});
    assert.is(runPasswd(["-D", file, "bob"], missing), 1);
    assert.match(missing.errText.join(""), /not found/);

    // -c overwrites
    assert.is(runPasswd(["-c", file, "zed"], fakeIo({ MQTT_PASSWORD: "z" })), 0);
    assert.equal(Object.keys(parsePasswordFile(file)), ["uzed"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("23 passwd: refusals exit 1 with a message and leave the file alone", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "passwd-"));
  try {
    const file = path.join(dir, "pw");
    const cases: [string[], PasswdIo & { errText: string[] }, RegExp][] = [
      [[file, "alice"], fakeIo({ MQTT_PASSWORD: "x" }), /Unable to open password file/],
      [["-c", "-D", file, "alice"], fakeIo({ MQTT_PASSWORD: "x" }), /cannot be used together/],
      [["-c", file], fakeIo({ MQTT_PASSWORD: "x" }), /usage:/],
      [["-c", file, "a:b"], fakeIo({ MQTT_PASSWORD: "x" }), /':'/],
      [["-c", file, "alice"], fakeIo({}, ["one", "two"]), /do not match/],
      [["-c", file, "alice"], fakeIo({}, [undefined]), /MQTT_PASSWORD/],
      [["-c", file, "alice"], fakeIo({ MQTT_PASSWORD: "" }), /empty/],
      [["-x", file, "alice"], fakeIo({ MQTT_PASSWORD: "x" }), /unknown option/],
    ];
    for (const [args, io, message] of cases) {
      assert.is(runPasswd(args, io), 1, args.join(" "));
      assert.match(io.errText.join(""), message);
    }
    let exists = true;
    try {
      statSync(file);
    } catch (_) {
      exists = false;
    }
    assert.not.ok(exists, "no file was created");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
