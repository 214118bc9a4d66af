import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { filterMatchesBytes, filterMatchesString } from "../../firmware/core/topics/match";
import { ADD_FULL, ADD_NEW, ADD_REPLACED, Subscriber, TopicTable } from "../../firmware/core/topics/table";
import { text } from "../../firmware/core/codec/text";
import { countLevels, validTopicFilter, validTopicFilterAt, validTopicName } from "../../firmware/core/topics/validate";
import { SubscriptionList } from "../../firmware/core/topics/list";
import { Broker } from "../../firmware/core/broker/broker";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { nodePlatform } from "../../host-sim/platform";

const nullTransport = { send: () => true, close: () => {}, queued: () => 0 };


const bytes = (t: string): Uint8Array => Uint8Array.from(Buffer.from(t, "latin1"));

/** Validate inside a larger buffer: only [off, off+len) may be looked at. */
function inBuffer(fn: (b: Uint8Array, off: number, len: number) => boolean, t: string): boolean {
  const b = bytes("#+" + t + "+#");
  return fn(b, 2, t.length);
}

const FILTERS: [string, boolean][] = [
  ["#", true],
  ["+", true],
  ["a", true],
  ["a/b", true],
  ["a/+", true],
  ["+/b", true],
  ["a/#", true],
  ["+/+", true],
  ["+/#", true],
  ["a/+/c/#", true],
  ["/", true],
  ["//", true],
  ["a//b", true],
  ["/#", true],
  ["/+", true],
  ["$SYS/#", true],
  ["sport/tennis/player1/#", true],
  ["a b/c d", true],
  ["", false],
  ["a#", false],
  ["#/a", false],
  ["a/#/b", false],
  ["a/#/", false],
  ["##", false],
  ["a/##", false],
  ["#+", false],
  ["+#", false],
  ["a+", false],
  ["+a", false],
  ["a/b+", false],
  ["a/+b", false],
  ["++", false],
  ["sport+", false],
  ["sport/tennis#", false],
];

for (const [f, ok] of FILTERS) {
  test(`filter ${JSON.stringify(f)} is ${ok ? "valid" : "invalid"}`, () => {
    assert.is(validTopicFilter(f), ok);
  });
}

/** The rules read byte by byte, as the spec states them: the oracle for the wildcard-only check. */
function filterByRule(f: string): boolean {
  if (f.length === 0) return false;
  const levels = f.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.indexOf("#") >= 0 && (l !== "#" || i !== levels.length - 1)) return false; // [MQTT-4.7.1-2]
    if (l.indexOf("+") >= 0 && l !== "+") return false; // [MQTT-4.7.1-3]
  }
  return true;
}

test("validTopicFilter agrees with the rules level by level, on any filter of a, /, +, #", () => {
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom("a", "/", "+", "#"), maxLength: 9 }), (f) => validTopicFilter(f) === filterByRule(f)), { numRuns: 3000 });
});

test("validTopicFilterAt (the decoder's, on bytes in place) agrees with validTopicFilter, anywhere in a buffer", () => {
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom("a", "/", "+", "#"), maxLength: 9 }), fc.nat(4), (f, at) => {
    const buf = new Uint8Array(at + f.length + 3).fill(35);
    text.put(f, buf, at);
    return validTopicFilterAt(buf, at, f.length) === validTopicFilter(f);
  }), { numRuns: 3000 });
});

const NAMES: [string, boolean][] = [
  ["a", true],
  ["/", true],
  ["a/b", true],
  ["//", true],
  ["$SYS/broker/uptime", true],
  [" ", true],
  ["a b", true],
  ["", false],
  ["+", false],
  ["#", false],
  ["a/+", false],
  ["a/#", false],
  ["a+b", false],
  ["x#", false],
];

for (const [n, ok] of NAMES) {
  test(`topic name ${JSON.stringify(n)} is ${ok ? "valid" : "invalid"}`, () => {
    assert.is(inBuffer(validTopicName, n), ok);
  });
}

test("countLevels, text.str, text.put", () => {
  assert.is(countLevels(bytes("a"), 0, 1), 1);
  assert.is(countLevels(bytes("/"), 0, 1), 2);
  assert.is(countLevels(bytes("a//b/"), 0, 5), 4);
  assert.is(countLevels(bytes("x/y/z"), 2, 3), 2, "only inside the region");
  const long = "é".repeat(100) + "/x";
  const bin = Buffer.from(long, "utf8").toString("latin1");
  assert.is(text.str(bytes("--" + bin), 2, bin.length), bin);
  const out = new Uint8Array(bin.length + 1);
  text.put(bin, out, 1);
  assert.equal(Array.from(out.subarray(1)), Array.from(Buffer.from(long, "utf8")));
});

// ---- matching ----

const MATCHES: [string, string, boolean][] = [
  ["a/b", "a/b", true],
  ["a/b", "a/b/c", false],
  ["a/b/c", "a/b", false],
  ["a/b", "a/bc", false],
  ["a/bc", "a/b", false],
  ["A", "a", false],
  ["a/+", "a/b", true],
  ["a/+", "a/b/c", false],
  ["a/+", "a", false],
  ["a/+", "a/", true],
  ["+", "a", true],
  ["+", "/", false],
  ["+", "/x", false],
  ["+/+", "/", true],
  ["+/+", "/x", true],
  ["+/+", "x/", true],
  ["+/+", "x", false],
  ["/+", "/x", true],
  ["/+", "x", false],
  ["+/b/+", "a/b/c", true],
  ["+/b/+", "a/x/c", false],
  ["#", "a", true],
  ["#", "a/b/c", true],
  ["#", "/", true],
  ["a/#", "a", true],
  ["a/#", "a/", true],
  ["a/#", "a/b/c", true],
  ["a/#", "ab", false],
  ["a/#", "b", false],
  ["a/#", "b/a", false],
  ["a/b/#", "a/b", true],
  ["a/b/#", "a", false],
  ["a/+/#", "a", false],
  ["a/+/#", "a/b", true],
  ["a/+/#", "a/b/c/d", true],
  ["+/#", "a", true],
  ["+/tennis/#", "sport/tennis", true],
  ["sport/tennis/player1/#", "sport/tennis/player1", true],
  ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
  ["sport/tennis/player1/#", "sport/tennis/player2", false],
  ["sport/+", "sport", false],
  ["sport/+", "sport/", true],
  ["/#", "/", true],
  ["/#", "/a/b", true],
  ["/#", "a", false],
  ["a//b", "a//b", true],
  ["a/+/b", "a//b", true],
  ["a/b", "a//b", false],
  ["a//#", "a/", true],
  ["//", "//", true],
  ["+/+/+", "//", true],
  ["#", "$SYS/x", false],
  ["+/x", "$SYS/x", false],
  ["+", "$SYS", false],
  ["+/#", "$SYS/a", false],
  ["$SYS/#", "$SYS/x", true],
  ["$SYS/#", "$SYS", true],
  ["$SYS/+", "$SYS/a", true],
  ["$SYS/+", "$SYS/a/b", false],
  ["a/#", "a/$x", true],
  ["+/$x", "a/$x", true],
  ["+/+", "a/$x", true],
  ["#", "a$", true],
];

/** Brute force: one match per subscriber, at the highest QoS of its matching filters. */
class Sub implements Subscriber {
  matchStamp = 0;
  matchQos = 0;
  constructor(public name: string) {}
}

function tableMatches(filter: string, topic: string): boolean {
  const t = new TopicTable<Sub>(10);
  const s = new Sub("s");
  t.add(filter, s, 1);
  const out: Sub[] = [];
  const b = bytes("xx" + topic + "yy");
  return t.match(b, 2, topic.length, out) === 1;
}

for (const [f, t, m] of MATCHES) {
  test(`${JSON.stringify(f)} ${m ? "matches" : "does not match"} ${JSON.stringify(t)}`, () => {
    assert.is(filterMatchesString(f, t), m, "filterMatchesString");
    const b = bytes("//" + t + "/a");
    assert.is(filterMatchesBytes(f, b, 2, t.length), m, "filterMatchesBytes");
    assert.is(tableMatches(f, t), m, "TopicTable.match");
  });
}

// ---- the table ----

test("add / replace / remove, and the trie is pruned to nothing", () => {
  const t = new TopicTable<Sub>(100);
  const a = new Sub("a");
  const b = new Sub("b");
  assert.is(t.add("x/+/z", a, 0), ADD_NEW);
  assert.is(t.add("x/+/z", b, 1), ADD_NEW);
  assert.is(t.add("x/+/z", a, 2), ADD_REPLACED);
  assert.is(t.add("x/#", a, 1), ADD_NEW);
  assert.is(t.add("#", b, 0), ADD_NEW);
  assert.is(t.count, 4);
  const out: Sub[] = [];
  const topic = bytes("x/y/z");
  assert.is(t.match(topic, 0, 5, out), 2);
  const qos = new Map(out.slice(0, 2).map((s) => [s.name, s.matchQos]));
  assert.equal(qos, new Map([["a", 2], ["b", 1]]), "a: max(2 replaced, 1); b: max(1, 0)");

  assert.is(t.remove("x/+/z", a), true);
  assert.is(t.remove("x/+/z", a), false, "already removed");
  assert.is(t.remove("x/+/q", a), false, "never added");
  assert.is(t.remove("nothing/here", a), false);
  assert.is(t.count, 3);
  assert.is(t.remove("x/+/z", b), true);
  assert.is(t.remove("x/#", a), true);
  assert.is(t.remove("#", b), true);
  assert.is(t.count, 0);
  assert.ok((t.root.subs.length === 0 && t.root.children.length === 0 && t.root.plus === undefined && t.root.hash === undefined), "every node pruned");
  assert.is(t.root.children.length, 0);
});

test("a full table refuses new subscriptions (ADD_FULL) but still replaces, and prunes what it created", () => {
  const t = new TopicTable<Sub>(2);
  const a = new Sub("a");
  const b = new Sub("b");
  assert.is(t.add("a/b", a, 0), ADD_NEW);
  assert.is(t.add("a/c", a, 0), ADD_NEW);
  assert.is(t.add("new/deep/filter", a, 0), ADD_FULL);
  assert.is(t.add("a/b", b, 0), ADD_FULL, "another subscriber on an existing node");
  assert.is(t.add("a/b", a, 2), ADD_REPLACED, "replacing needs no room");
  assert.is(t.count, 2);
  assert.is(t.root.children.length, 1, "the refused filter's nodes were pruned");
  const out: Sub[] = [];
  assert.is(t.match(bytes("new/deep/filter"), 0, 15, out), 0);
  assert.is(t.match(bytes("a/b"), 0, 3, out), 1);
  assert.is(out[0].matchQos, 2);
  t.remove("a/c", a);
  assert.is(t.add("a/b", b, 1), ADD_NEW, "room again after a remove");
});

test("dedup: a subscriber matched by several filters comes once, at the highest QoS", () => {
  const t = new TopicTable<Sub>(100);
  const s = new Sub("s");
  const other = new Sub("o");
  t.add("a/+", s, 0);
  t.add("a/#", s, 2);
  t.add("#", s, 1);
  t.add("a/b", s, 0);
  t.add("+/b", other, 1);
  const out: Sub[] = [];
  for (let round = 0; round < 3; round++) {
    // the stamp changes every match: a second match starts afresh
    const n = t.match(bytes("a/b"), 0, 3, out);
    assert.is(n, 2);
    const got = out.slice(0, n).map((x) => x.name + x.matchQos).sort();
    assert.equal(got, ["o1", "s2"]);
  }
  t.remove("a/#", s);
  assert.is(t.match(bytes("a/b"), 0, 3, out), 2);
  assert.is(out.find((x) => x.name === "s")!.matchQos, 1);
});

test("$ topics: leading wildcards do not match, explicit $ filters do", () => {
  const t = new TopicTable<Sub>(100);
  const hash = new Sub("hash");
  const plus = new Sub("plus");
  const sys = new Sub("sys");
  t.add("#", hash, 0);
  t.add("+/uptime", plus, 0);
  t.add("$SYS/#", sys, 0);
  const out: Sub[] = [];
  const n = t.match(bytes("$SYS/uptime"), 0, 11, out);
  assert.equal(out.slice(0, n).map((x) => x.name), ["sys"]);
  const m = t.match(bytes("x/uptime"), 0, 8, out);
  assert.equal(out.slice(0, m).map((x) => x.name).sort(), ["hash", "plus"]);
});

// ---- the property: the trie agrees with the brute-force matcher ----

const LEVELS = ["a", "b", "", "$s", "ab"];
const filterArb = fc.oneof(
  { weight: 10, arbitrary: fc
    .tuple(fc.array(fc.constantFrom(...LEVELS, "+", "+"), { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/"))
    .filter((f) => f.length > 0) },
  { weight: 1, arbitrary: fc.constantFrom("#", "+") },
);
const topicArb = fc
  .array(fc.constantFrom(...LEVELS), { minLength: 1, maxLength: 5 })
  .map((l) => l.join("/"))
  .filter((t) => t.length > 0);

test("property: TopicTable.match agrees with filterMatchesString over random filters and topics", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.tuple(filterArb, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.tuple(fc.nat(4), filterArb), { maxLength: 5 }),
      fc.array(topicArb, { minLength: 1, maxLength: 8 }),
      (perSub, removals, topics) => {
        const t = new TopicTable<Sub>(1000);
        const subs = perSub.map((_, i) => new Sub("s" + i));
        // the model: subscriber -> filter -> qos (last add wins)
        const model = subs.map(() => new Map<string, number>());
        perSub.forEach((list, i) => {
          for (const [f, q] of list) {
            assert.ok(validTopicFilter(f), f);
            const r = t.add(f, subs[i], q);
            assert.is(r, model[i].has(f) ? ADD_REPLACED : ADD_NEW);
            model[i].set(f, q);
          }
        });
        for (const [who, f] of removals) {
          const i = who % subs.length;
          assert.is(t.remove(f, subs[i]), model[i].delete(f));
        }
        assert.is(t.count, model.reduce((n, m) => n + m.size, 0));
        const out: Sub[] = [];
        for (const topic of topics) {
          const n = t.match(bytes(topic), 0, topic.length, out);
          const got = out.slice(0, n).map((s) => s.name + ":" + s.matchQos).sort();
          const want: string[] = [];
          subs.forEach((s, i) => {
            let best = -1;
            for (const [f, q] of model[i]) if (filterMatchesString(f, topic) && q > best) best = q;
            if (best >= 0) want.push(s.name + ":" + best);
          });
          assert.equal(got, want.sort(), "topic " + JSON.stringify(topic));
          // and the byte matcher agrees with the string one
          for (const m of model) for (const f of m.keys()) {
            assert.is(filterMatchesBytes(f, bytes(topic), 0, topic.length), filterMatchesString(f, topic));
          }
        }
        // removing everything prunes the trie to nothing
        model.forEach((m, i) => { for (const f of m.keys()) assert.ok(t.remove(f, subs[i])); });
        assert.is(t.count, 0);
        assert.ok((t.root.subs.length === 0 && t.root.children.length === 0 && t.root.plus === undefined && t.root.hash === undefined));
      },
    ),
    { numRuns: 400, seed: 424242 },
  );
});

test("property: the flat SubscriptionList (small boards) agrees with the trie, add/replace/remove/match", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(3), filterArb, fc.integer({ min: 0, max: 2 }), fc.boolean()), { minLength: 1, maxLength: 30 }),
      fc.array(topicArb, { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 12 }),
      (ops, topics, capacity) => {
        const trie = new TopicTable<Sub>(capacity);
        const list = new SubscriptionList<Sub>(capacity);
        const subsT = [0, 1, 2, 3].map((i) => new Sub("s" + i));
        const subsL = [0, 1, 2, 3].map((i) => new Sub("s" + i));
        for (const [who, f, q, remove] of ops) {
          if (remove) assert.is(list.remove(f, subsL[who]), trie.remove(f, subsT[who]), "remove " + f);
          else assert.is(list.add(f, subsL[who], q), trie.add(f, subsT[who], q), "add " + f);
          assert.is(list.count, trie.count);
        }
        const outT: Sub[] = [];
        const outL: Sub[] = [];
        for (const topic of topics) {
          const nt = trie.match(bytes(topic), 0, topic.length, outT);
          const nl = list.match(bytes(topic), 0, topic.length, outL);
          const a = outT.slice(0, nt).map((x) => x.name + ":" + x.matchQos).sort();
          const b = outL.slice(0, nl).map((x) => x.name + ":" + x.matchQos).sort();
          assert.equal(b, a, "topic " + JSON.stringify(topic));
        }
      },
    ),
    { numRuns: 400, seed: 77 },
  );
});

test("a broker with a board's limits uses the flat list, the desktop's the trie", () => {
  const small = new Broker({ ...defaultConfig(loadProfile("esp32")) }, nodePlatform(() => {}), nullTransport);
  const big = new Broker({ ...defaultConfig(loadProfile("host")) }, nodePlatform(() => {}), nullTransport);
  assert.ok(small.topics instanceof SubscriptionList);
  assert.ok(big.topics instanceof TopicTable);
});

test.run();
