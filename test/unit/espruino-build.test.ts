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

test.run();
