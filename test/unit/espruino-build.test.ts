/**
 * The Espruino build and its construct check: `npm test` fails if the bundle
 * holds anything Espruino rejects (firmware/espruino/interpreter/PLATFORM.md).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { buildEspruino } from "../../firmware/espruino/tools/build";
import { checkEspruinoSource } from "../../firmware/espruino/tools/check";
import { coldToFiles, splitColdFiles } from "../../firmware/espruino/tools/cold-files";
import { toGlobalScope } from "../../firmware/espruino/tools/global-scope";
import * as acorn from "acorn";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { MANGLE_CACHE } from "../../firmware/espruino/tools/build";
import { inlineProfile } from "../../firmware/espruino/tools/inline-profile";
import { boardLimits } from "../../firmware/espruino/tools/flash";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { dropUnused, inlineConstants, moveColdCode } from "../../firmware/espruino/tools/shrink";
import { boardSources, coldMarks, coldRoots } from "../../firmware/espruino/tools/cold-roots";
import { coreMemberNames, renameKeys } from "../../firmware/espruino/tools/mangle";
import { inlineCalls, inlineMarks } from "../../firmware/espruino/tools/inline-calls";

const ROOT = path.join(__dirname, "..", "..");

test("dist/espruino/broker.js and selftest.js build and pass the construct check", () => {
  const broker = buildEspruino({ quiet: true });
  const suite = buildEspruino({ entry: "selftest", quiet: true });
  assert.ok(broker.length > 10000);
  assert.ok(suite.length > 10000);
  assert.equal(checkEspruinoSource(broker), []);
  // the board reaches its modules through `global`, never a bundler shim
  assert.not.match(broker, /Dynamic require/);
});

test("cold code: each case of the factory becomes a Storage file the one-line loader evaluates", () => {
  const code = '"use strict";(function(){function P(s){switch(s){case 0:return(function(){function e(i){return i+X}return e})();' +
    'case 1:return(function(){return function(){return 2}})()}}var X=40;global.t=[P(0)(2),P(1)()]})();';
  const bundle = coldToFiles(code, "zz");
  const { main, files } = splitColdFiles(bundle);
  assert.equal(files.map((f) => f.name), ["zz0", "zz1"]);
  assert.not.match(main, /switch/);
  assert.match(main, /function P\(\)\{return eval\(require\("Storage"\)\.read\("zz"\+arguments\[0\]\)\)\}/);
  // run it as the board would: the loader evaluates the file in its own scope, which sees X
  const storage: { [k: string]: string } = {};
  for (const f of files) storage[f.name] = f.text;
  const g: any = {};
  new Function("global", "require", main)(g, () => ({ read: (n: string) => storage[n] }));
  assert.equal(g.t, [42, 2]);
  // the broker's own bundle: every entry parses, and the bundle keeps no factory switch
  const broker = splitColdFiles(buildEspruino({ quiet: true }));
  assert.ok(broker.files.length > 10, `${broker.files.length} cold files`);
  for (const f of broker.files) acorn.parse(f.text, { ecmaVersion: 5 });
  assert.not.match(broker.main.slice(0, 200), /switch\(/);
});

const REJECTED: [string, string, RegExp][] = [
  ["Map", "var m = new Map();", /Map/],
  ["Set", "var s = new Set();", /Set/],
  ["Symbol", "var s = Symbol('x');", /Symbol/],
  ["WeakMap", "var w = new WeakMap();", /WeakMap/],
  ["destructuring", "var {a} = o;", /not ES5/],
  ["spread", "f(...xs);", /not ES5/],
  ["rest", "function f(...xs) {}", /not ES5/],
  ["default parameter", "function f(a = 1) {}", /not ES5/],
  ["label", "outer: for (;;) { break outer; }", /labelled/],
  ["generator", "function* g() {}", /not ES5/],
  ["async", "async function f() {}", /not ES5/],
  ["exponent", "var x = 2 ** 3;", /not ES5/],
  ["optional chaining", "var x = a?.b;", /not ES5/],
  ["Math.imul", "var x = Math.imul(2, 3);", /Math\.imul/],
  ["Math.trunc", "var x = Math.trunc(2.5);", /Math\.trunc/],
  ["Array.from", "var x = Array.from(y);", /Array\.from/],
  ["Number.isInteger", "var x = Number.isInteger(y);", /Number\.isInteger/],
  ["ArrayBuffer slice", "var x = u.buffer.slice(0, 2);", /ArrayBuffer\.prototype\.slice/],
  ["TextEncoder", "var x = new TextEncoder();", /TextEncoder/],
  ["TextDecoder", "var x = new TextDecoder();", /TextDecoder/],
  ["socket.write of a typed array", "sock.write(new Uint8Array(4));", /typed array/],
  ["socket.write of a subarray", "sock.write(buf.subarray(0, 4));", /typed array/],
  ["an assignment to length", "var a = [1]; a.length = 0;", /assignment to \.length/],
];

for (const [name, code, want] of REJECTED) {
  test(`the check rejects ${name}`, () => {
    const problems = checkEspruinoSource(code);
    assert.ok(problems.some((p) => want.test(p)), `${code} -> ${JSON.stringify(problems)}`);
  });
}

test("global scope: the IIFE's body moves out whole, trailer kept; a name Espruino has, or a top-level this, refuses", () => {
  const code = '"use strict";(function(){function a(){return b+1}var b=41,c=(function(){return this})();global.r=a()})();\n/*trailer*/';
  const out = toGlobalScope(code);
  assert.is(out, '"use strict";function a(){return b+1}var b=41,c=(function(){return this})();global.r=a()\n/*trailer*/');
  const g: any = {};
  new Function("global", out)(g);
  assert.is(g.r, 42);
  assert.throws(() => toGlobalScope("(function(){function D5(){}})();"), /D5/);
  assert.throws(() => toGlobalScope("(function(){var E=1})();"), /E/);
  assert.throws(() => toGlobalScope("(function(){var x=this})();"), /this/);
  assert.throws(() => toGlobalScope("(function(){})();var y=1;"), /one IIFE/);
  // the broker's own bundle: at global scope, no IIFE around it
  const broker = splitColdFiles(buildEspruino({ quiet: true })).main;
  assert.not.match(broker.slice(0, 40), /^"use strict";\(function\(\)\{/);
});

test("the check accepts plain ES5 and socket.write(E.toString(...))", () => {
  assert.equal(checkEspruinoSource("var a = [1, 2]; for (var i = 0; i < a.length; i++) sock.write(E.toString(buf.subarray(0, i)));"), []);
});


test("limits in the code: each read of a profile field becomes its value; a write, or a read from a call, refuses", () => {
  const code = 'function f(b){var p=b.a;return b.a.Ib+p.Ib+this.Ib+b.a.J.toString()+b.Ib2+x.Ib}';
  assert.is(inlineProfile(code, { maxInflight: 4, maxPacketSize: 1024 }, { maxInflight: "Ib", maxPacketSize: "J" }),
    'function f(b){var p=b.a;return 4+4+4+(1024).toString()+b.Ib2+4}');
  assert.throws(() => inlineProfile("b.a.Ib=5", { maxInflight: 4 }, { maxInflight: "Ib" }), /writes the limit/);
  assert.throws(() => inlineProfile("b.a.Ib++", { maxInflight: 4 }, { maxInflight: "Ib" }), /writes the limit/);
  assert.throws(() => inlineProfile("g().Ib", { maxInflight: 4 }, { maxInflight: "Ib" }), /from an expression/);
  assert.throws(() => inlineProfile("x", { maxInflight: -1 }, {}), /not a limit/);
});

test("limits in the code: the board's bundle keeps no read of a limit, and no other object of the core has a field named like one", () => {
  const profile = loadProfile("espruino-linux");
  const limits = boardLimits(defaultConfig(profile));
  assert.ok(Object.keys(limits).length > 20);
  const code = buildEspruino({ quiet: true, limits });
  const mangled = JSON.parse(fs.readFileSync(MANGLE_CACHE, "utf8"));
  assert.equal(checkEspruinoSource(code), []);
  for (const field of Object.keys(limits)) {
    const name = mangled[field] || field;
    assert.not.match(code, new RegExp("\\.\\$?" + name.replace(/\$/g, "\\$") + "(?![\\w$])"), `${field} (.${name}) is still read`);
  }
  // every declaration of a member named like a limit is the profile's (firmware/core/profile.ts)
  const elsewhere: string[] = [];
  const walkDir = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walkDir(p);
      else if (e.name.endsWith(".ts") && !p.endsWith(path.join("firmware", "core", "profile.ts"))) {
        const sf = ts.createSourceFile(p, fs.readFileSync(p, "utf8"), ts.ScriptTarget.Latest, true);
        const visit = (n: ts.Node) => {
          if ((ts.isPropertySignature(n) || ts.isPropertyDeclaration(n) || ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n)) &&
            n.name !== undefined && ts.isIdentifier(n.name) && n.name.text in limits) elsewhere.push(`${path.relative(ROOT, p)}: ${n.name.text}`);
          ts.forEachChild(n, visit);
        };
        visit(sf);
      }
    }
  };
  walkDir(path.join(ROOT, "firmware"));
  assert.equal(elsewhere, []);
});

// ---- each pass of the build on a small bundle, against the text it must give (golden) ----

/** What a small bundle computes: `code` run with `from` replaced by `to`, which stores the value in r.v. */
function resultOf(code: string, from: string, to: string): unknown {
  const r: { v?: unknown } = {};
  new Function("r", code.replace(from, to))(r);
  return r.v;
}

const SHRINK_INPUT = `(function () {
var LIMIT = 3, NAME = "x", live = 0, changed = 1;
changed = 2;
function hot(a) { live += LIMIT; return rare(a) + helper(a) + changed; }
function rare(b) { return onlyRare(b) + shared(b); }
function onlyRare(c) { return c + NAME; }
function other(d) { return shared(d); }
function shared(e) { return e; }
function helper(f) { return other(f); }
function unused() { return unused(); }
var Klass = (function () { function Klass() {} Klass.prototype.m = function () {}; return Klass; })();
hot(1);
})();
`;

test("shrink, constants: a top-level literal never assigned again goes where it is used, its declaration with it", () => {
  const out = inlineConstants(SHRINK_INPUT);
  assert.equal(out.inlined, ["LIMIT", "NAME"]);
  assert.match(out.code, "var live = 0, changed = 1;\nchanged = 2;");
  assert.match(out.code, "function hot(a) { live += (3); return rare(a) + helper(a) + changed; }");
  assert.match(out.code, 'function onlyRare(c) { return c + ("x"); }');
  // a parameter or a nested declaration of the same name is not the constant
  assert.equal(inlineConstants("(function(){var K=1;function f(K){return K}f(K)})();").inlined, []);
});

test("shrink, unused: functions and lowered classes nothing refers to go, a self-reference keeping nothing", () => {
  const out = dropUnused(inlineConstants(SHRINK_INPUT).code);
  assert.equal(out.dropped, ["unused", "Klass"]);
  assert.not.match(out.code, "unused");
  assert.not.match(out.code, "Klass");
  assert.match(out.code, "function helper(f) { return other(f); }");
});

test("shrink, cold: a root and what only it reaches move into the factory; hot callers go through $cold(i)", () => {
  const input = dropUnused(inlineConstants(SHRINK_INPUT).code).code;
  const out = moveColdCode(input, ["rare", "other"]);
  assert.equal(out.report.moved, ["onlyRare", "other", "rare", "shared"]);
  assert.equal(out.report.stubs, ["rare", "other"]);
  assert.is(out.report.params, 4);
  assert.is(out.code, `(function () {
function $cold(i) {
switch (i) {
case 0: return (function () {
function rare(b) { return onlyRare(b) + shared(b); }
function onlyRare(c) { return c + ("x"); }
function shared(e) { return e; }
return rare;
})();
case 1: return (function () {
function other(d) { return shared(d); }
function shared(e) { return e; }
return other;
})();
}
}
var live = 0, changed = 1;
changed = 2;
function hot(a) { live += (3); return $cold(0)(a) + helper(a) + changed; }




function helper(f) { return $cold(1)(f); }


hot(1);
})();
`);
  // it runs as before
  assert.is(resultOf(out.code, "hot(1);", "r.v = hot(1);"), resultOf(input, "hot(1);", "r.v = hot(1);"));
  // a root the bundle lacks: left alone in part of the code, refused in the broker's
  assert.is(moveColdCode(input, ["rare", "gone"]).report.stubs.join(), "rare");
  assert.throws(() => moveColdCode(input, ["rare", "gone"], true), /marked @cold but not a function of the bundle[^\n]*gone/);
  // a name that means something else somewhere would be rewritten wrongly: refused
  assert.throws(() => moveColdCode("(function(){function r(){}function h(r){return r}h(r)})();", ["r"]), /shadows/);
});

test("cold marks: @cold N on a top-level function, in the order of N; anything else refuses", () => {
  const marks = coldMarks([
    { name: "a.ts", text: "/**\n * Rare.\n * @cold 20\n */\nexport function late(): void {}\n/** @cold 10 */\nfunction early(): void {}\nfunction hot(): void {}\n" },
  ]);
  assert.equal(marks.map((m) => `${m.name}@${m.place} ${m.at}`), ["early@10 a.ts:7", "late@20 a.ts:5"]);
  const refuses = (text: string, why: RegExp) => assert.throws(() => coldMarks([{ name: "b.ts", text }]), why);
  refuses("class C {\n  /** @cold 1 */\n  m(): void {}\n}\n", /b\.ts:3: @cold marks a function declared at the top/);
  refuses("function f(): void {\n  /** @cold 1 */\n  function g(): void {}\n}\n", /b\.ts:3: @cold marks a function/);
  refuses("/** @cold */\nfunction f(): void {}\n", /wants its place/);
  refuses("/** @cold 5 */\nfunction f(): void {}\n/** @cold 5 */\nfunction g(): void {}\n", /@cold 5 is also b\.ts:2/);
  refuses("/** @cold 5 */\nfunction f(): void {}\n/** @cold 6 */\nfunction f(): void {}\n", /a second cold f/);
});

test("cold marks: the board's marked functions, each in the broker's bundle (the build refuses one that is not)", () => {
  const roots = coldRoots(ROOT);
  assert.ok(roots.length >= 40, `${roots.length} marked`);
  // what a board runs per packet comes before what it runs once (cold-roots.ts says why)
  assert.ok(roots.indexOf("handlePingreq") < roots.indexOf("startRun"));
  assert.ok(roots.indexOf("storedOne") === 0);
  const sources = boardSources(ROOT).map((f) => f.name);
  assert.ok(sources.indexOf("firmware/core/broker/handle_pingreq.ts") >= 0);
  assert.equal(sources.filter((f) => /tools\/|interpreter\//.test(f)), []);
});

const INLINE_INPUT = `(function () {
function u16(buf, at, end) { return at + 2 > end ? -1 : buf[at] * 256 + buf[at + 1]; }
function first(o) { return o.length; }
function read(b, p, n) { var x = u16(b, p, p + n); return x < 0 ? first(b) : x + u16(b, 0, 2); }
var out = [read([1, 2, 3], 1, 2), read([1, 2], 1, 1)];
})();
`;

test("inline calls: each call of an @inline function becomes its expression, its arguments in place; the declaration goes", () => {
  const out = inlineCalls(INLINE_INPUT, ["first", "u16"], true);
  assert.equal(out.inlined, { u16: 2, first: 1 });
  assert.is(out.code, `(function () {


function read(b, p, n) { var x = (p + 2 > (p + n) ? -1 : b[p] * 256 + b[p + 1]); return x < 0 ? (b.length) : x + (0 + 2 > 2 ? -1 : b[0] * 256 + b[0 + 1]); }
var out = [read([1, 2, 3], 1, 2), read([1, 2], 1, 1)];
})();
`);
  // it runs as before
  const before = resultOf(INLINE_INPUT, "var out =", "r.v =");
  assert.equal(resultOf(out.code, "var out =", "r.v ="), before);
  assert.equal(before, [2 * 256 + 3 + (1 * 256 + 2), 2]);
  // what would change the meaning, or leave the function resident unseen, refuses
  const refuses = (code: string, why: RegExp, requireAll = false) =>
    assert.throws(() => inlineCalls(`(function(){${code}})();`, ["f"], requireAll), why);
  refuses("function f(a){return a*a}f(g());", /argument 1 calls or assigns/);
  refuses("function f(a){return a*a}f(x+1);", /argument 1 stands for a, used 2 times/);
  refuses("function f(a){return a}f(1,2);", /2 arguments for 1 parameters/);
  refuses("function f(a){return a}var h=f;", /f is used other than called/);
  refuses("function f(a){return a}function g(f){return f}", /f is declared again/);
  refuses("function f(a){var b=a;return b}f(1);", /not one `return` of an expression/);
  refuses("function f(a){return a+k}f(1);", /reads k, which is not a parameter/);
  refuses("function f(a){return g(a)}f(1);", /calls or assigns in its expression/);
  refuses("function g(a){return a}g(1);", /f is marked @inline but is not in the bundle/, true);
  // the on-device suite's bundle may not hold every marked function
  assert.is(inlineCalls("(function(){function g(a){return a}g(1);})();", ["f"]).code, "(function(){function g(a){return a}g(1);})();");
});

test("inline marks: @inline on a top-level function; the board's cursor and one-line lookups are marked, and the broker's bundle calls none of them", () => {
  assert.equal(inlineMarks([{ name: "a.ts", text: "/**\n * Two bytes.\n * @inline\n */\nexport function u16(): number { return 0; }\nfunction not(): void {}\n" }]), ["u16"]);
  assert.throws(() => inlineMarks([{ name: "b.ts", text: "function f(): void {\n  /** @inline */\n  function g(): void {}\n}\n" }]), /b\.ts:3: @inline marks a function declared at the top/);
  const marked = inlineMarks(boardSources(ROOT));
  for (const name of ["readStringLength", "readU16", "findSession", "readerHeld"]) assert.ok(marked.indexOf(name) >= 0, name);
  // before identifiers are minified, the board's code calls none of them
  let named = "";
  buildEspruino({ quiet: true, report: (_r, code) => { named = code; } });
  for (const name of marked) assert.not.match(named, new RegExp("\\b" + name + "\\b"), name);
});

test("mangle: the core's own member names are renamed, names Espruino's objects use never", () => {
  const names = coreMemberNames(ROOT);
  for (const n of ["routeCount", "connectingBytes", "maxInflight", "sendTwo"]) assert.ok(names.indexOf(n) >= 0, n);
  for (const n of ["write", "length", "read", "on", "end", "set", "subarray", "push", "charCodeAt", "password"]) assert.ok(names.indexOf(n) < 0, n);
  // the configuration written to the board is renamed alike; the keys of a map of users (their names) are not
  const cache = { profile: "a", maxInflight: "b", passwords: "c", algo: "d", users: "e" };
  assert.equal(renameKeys({ profile: { maxInflight: 4 }, auth: { passwords: { uroot: { algo: "sha256" } }, users: ["x"] }, other: [{ algo: 1 }] }, cache),
    { a: { b: 4 }, auth: { c: { uroot: { d: "sha256" } }, e: ["x"] }, other: [{ d: 1 }] });
});

test.run();
