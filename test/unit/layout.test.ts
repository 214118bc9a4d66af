/**
 * The layout's arrows (README, Layout): the core imports nothing but the
 * core, its folders only downward; each runtime imports the core and its
 * own folder; scripts/ and test/ do not import each other; and no file is
 * imported, however indirectly, by a file it imports. Read from the
 * sources' import lines (type-only ones, `import()` and `require()` too).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const TREES = ["firmware", "host-sim", "scripts", "test", "bin"];

/** The core's folders and top files (and a file placed apart from its folder), lowest first: a file may import its own rank or lower. */
const CORE_RANK: { [top: string]: number } = {
  platform: 0, profile: 0,
  codec: 1, message: 1,
  auth: 2, topics: 2,
  retain: 3, session: 3,
  config: 4, bridge: 4, broker: 4,
  persist: 5,
  run: 6,
  // the tests' decoder reads a packet as the handlers do, topic syntax included
  "codec/decode": 3,
};

/** Every file below `dir` (repository paths), but in the folders named in `skip`. */
function filesUnder(dir: string, skip: string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const p = rel + "/" + e.name;
      if (!e.isDirectory()) out.push(p);
      else if (skip.indexOf(e.name) < 0) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** The sources whose imports are read: the interpreter's own scripts and the fuzz corpus are not ours. */
function sources(): string[] {
  const out: string[] = [];
  for (const t of TREES) out.push(...filesUnder(t, ["node_modules", "corpus", "interpreter"]).filter((f) => /\.(ts|js|mjs|cjs)$/.test(f)));
  return out;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']*)["']/gm;

/** Each source's relative imports, resolved to repository paths ("firmware/core/codec/reader.ts"). */
export function importGraph(): Map<string, string[]> {
  const files = sources();
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps: string[] = [];
    for (const m of fs.readFileSync(path.join(ROOT, f), "utf8").matchAll(IMPORT)) {
      const base = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1]));
      const hit = [base, base + ".ts", base.replace(/\.js$/, ".ts"), base + "/index.ts"].find((c) => known.has(c));
      if (hit !== undefined) deps.push(hit);
      else if (!/\.json$/.test(base) && !fs.existsSync(path.join(ROOT, base))) deps.push("?" + base);
    }
    graph.set(f, deps);
  }
  return graph;
}

/** Strongly connected groups of more than one file (Tarjan): each is a circle of imports. */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Where a file lives, for the rules below. */
function partOf(f: string): string {
  if (f.startsWith("firmware/core/")) return "core";
  const runtime = /^firmware\/(espruino|nodemcu)\/(tools\/)?/.exec(f);
  if (runtime !== null) return runtime[1] + (runtime[2] !== undefined ? "-tools" : "");
  if (f.startsWith("firmware/tools/")) return "board-tools";
  return f.split("/")[0];
}

function coreRank(f: string): number {
  const rel = f.slice("firmware/core/".length).replace(/\.ts$/, "");
  if (rel in CORE_RANK) return CORE_RANK[rel];
  const top = rel.split("/")[0];
  return top in CORE_RANK ? CORE_RANK[top] : -1;
}

/** What each part may import besides itself. */
const MAY_IMPORT: { [part: string]: string[] } = {
  core: [],
  espruino: ["core"],
  nodemcu: ["core"],
  // tools run on Node: they read mosquitto.conf and passwd files with the desktop's readers
  "espruino-tools": ["core", "espruino", "board-tools", "host-sim"],
  "nodemcu-tools": ["core", "nodemcu", "board-tools", "host-sim"],
  "board-tools": ["core"],
  "host-sim": ["core"],
  bin: ["host-sim"],
  scripts: ["core", "espruino", "nodemcu", "espruino-tools", "nodemcu-tools", "host-sim"],
  test: ["core", "espruino", "nodemcu", "espruino-tools", "nodemcu-tools", "board-tools", "host-sim"],
};

export function layoutViolations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [f, deps] of graph) {
    const from = partOf(f);
    for (const d of deps) {
      if (d.startsWith("?")) {
        out.push(`${f} imports ${d.slice(1)}, which does not exist`);
        continue;
      }
      const to = partOf(d);
      if (to !== from && (MAY_IMPORT[from] ?? []).indexOf(to) < 0) out.push(`${f} (${from}) imports ${d} (${to})`);
      if (from === "core" && to === "core") {
        const a = coreRank(f);
        const b = coreRank(d);
        if (a < 0) out.push(`${f}: not in the core's ranks (layout.test.ts CORE_RANK)`);
        else if (b > a) out.push(`${f} imports ${d}, above it in the core`);
      }
    }
  }
  for (const c of circles(graph)) out.push(`a circle of imports: ${c.join(", ")}`);
  return out;
}

test("the tree has the layout's arrows and no circle of imports", () => {
  const graph = importGraph();
  assert.ok(graph.size > 150, `read ${graph.size} sources`);
  assert.equal(layoutViolations(graph), []);
});

test("the check sees each kind of wrong arrow", () => {
  const g = new Map<string, string[]>([
    ["firmware/core/codec/reader.ts", ["firmware/core/broker/broker.ts"]],
    ["firmware/core/broker/broker.ts", ["firmware/core/codec/reader.ts", "host-sim/tcp.ts"]],
    ["firmware/espruino/main.ts", ["firmware/espruino/tools/build.ts"]],
    ["scripts/bench/run.ts", ["test/support/sim-client.ts"]],
    ["test/support/sim-client.ts", ["scripts/bench/run.ts", "?test/support/gone"]],
    ["host-sim/tcp.ts", ["firmware/core/broker/broker.ts"]],
  ]);
  const v = layoutViolations(g).join("\n");
  assert.match(v, "firmware/core/codec/reader.ts imports firmware/core/broker/broker.ts, above it in the core");
  assert.match(v, "firmware/core/broker/broker.ts (core) imports host-sim/tcp.ts (host-sim)");
  assert.match(v, "firmware/espruino/main.ts (espruino) imports firmware/espruino/tools/build.ts (espruino-tools)");
  assert.match(v, "scripts/bench/run.ts (scripts) imports test/support/sim-client.ts (test)");
  assert.match(v, "test/support/sim-client.ts (test) imports scripts/bench/run.ts (scripts)");
  assert.match(v, "test/support/gone, which does not exist");
  assert.match(v, "a circle of imports: firmware/core/broker/broker.ts, firmware/core/codec/reader.ts");
  assert.match(v, "a circle of imports: scripts/bench/run.ts, test/support/sim-client.ts");
  assert.not.match(v, "host-sim/tcp.ts (host-sim) imports");
});

test("README's Layout table names the tree: each folder is there, and each file a row names is in it", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("## Layout"), readme.indexOf("\n## ", readme.indexOf("## Layout") + 3));
  const rows = [...table.matchAll(/^\| `([^`]+)\/` \| (.*) \|$/gm)].map((m) => ({ dir: m[1], text: m[2] }));
  assert.ok(rows.length >= 8, `${rows.length} rows`);
  const missing: string[] = [];
  for (const row of rows) {
    if (!fs.existsSync(path.join(ROOT, row.dir))) {
      missing.push(`${row.dir}/ (no such folder)`);
      continue;
    }
    const files = filesUnder(row.dir, ["node_modules", "corpus"]);
    for (const m of row.text.matchAll(/`([\w.\-/]+\.(?:ts|lua|js))`/g)) {
      const name = m[1];
      // a path from the top (dist/cli.js, a build's output) or a file under the row's folder
      if (!files.some((f) => f.endsWith("/" + name)) && !(name.indexOf("/") > 0 && name.startsWith("dist/"))) missing.push(`${row.dir}/: ${name}`);
    }
    for (const m of row.text.matchAll(/`([\w\-]+)\/`/g)) {
      if (!files.some((f) => f.indexOf("/" + m[1] + "/") >= 0) && !fs.existsSync(path.join(ROOT, m[1]))) missing.push(`${row.dir}/: ${m[1]}/`);
    }
  }
  // every folder of the code has a row of its own or is named in its parent's
  for (const top of ["firmware", "host-sim", "scripts", "test", "boards"]) {
    assert.ok(rows.some((r) => r.dir === top || r.dir.startsWith(top + "/")), `${top}/ has a row`);
  }
  for (const e of fs.readdirSync(path.join(ROOT, "firmware"), { withFileTypes: true })) {
    if (e.isDirectory()) assert.ok(rows.some((r) => r.dir === "firmware/" + e.name), `firmware/${e.name}/ has a row`);
  }
  assert.equal(missing, []);
});

test.run();
