/**
 * `npm run bench:espruino-receive [-- --base REV]`: the board's receive path
 * (firmware/espruino/receive.ts `receive`) alone inside the Espruino
 * interpreter, without sockets: house chunks (plain QoS 0 PUBLISHes on
 * house/<room>/temp|hum, readings of varying length, every topic's route
 * kept, house/kitchen/temp to two receivers, the rest to one) fed straight
 * to it, and the milliseconds per chunk printed for 1, 5 and 10 packets a
 * chunk. With --base, receive.ts as it was at that git revision runs beside
 * it, each variant in an interpreter of its own, in turns.
 *
 * Why: through sockets (`npm run bench:espruino`) one run's figures swing by
 * a third on this shared machine, more than most changes to this loop; here
 * only the interpreter runs, so two versions compared in turns tell a 10%
 * change apart. What it leaves out: the socket writes (a receiver is a
 * function that counts bytes), the event dispatch and main.ts's onData, and
 * what receive.ts reaches in the core beyond routedRaw (the delivery and text
 * modules are stand-ins: no QoS 1/2 and no parser runs here; a chunk that
 * would reach the parser throws).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { build, transformSync } from "esbuild";
import * as ts from "typescript";
import { espruinoPath } from "../../firmware/espruino/tools/process";

const ROOT = path.join(__dirname, "..", "..");
const RECEIVE = path.join(ROOT, "firmware", "espruino", "receive.ts");
/** Chunks made (held in the interpreter's memory: 40 of 10 packets is about 1,000 JsVars), rounds of them fed per run, runs per variant and chunk size. */
const CHUNKS = 40;
const ROUNDS = 3;
const TURNS = 5;

/** What runs inside the interpreter: `receive` is imported from the module "receive-under-test". */
const DRIVER = `
import { receive } from "receive-under-test";
declare function getTime(): number;
declare function print(...a: any[]): void;
declare const PER: number;
const ROOMS = ["kitchen", "living", "bedroom", "bath"];
const READINGS = ["9.5", "21.5", "21.75", "9.125", "100.0625", "45.0", "18.25", "55.125", "3.14159", "1013.0625", "99.9", "20.0625"];
const key = (topic: string) => String.fromCharCode(0, topic.length) + topic;
function publish(topic: string, payload: string): string {
  const body = key(topic) + payload;
  return "0" + String.fromCharCode(body.length) + body;
}
const chunks: string[] = [];
for (let c = 0; c < ${CHUNKS}; c++) {
  let s = "";
  for (let k = 0; k < PER; k++) s += publish("house/" + ROOMS[c % 4] + "/" + (k % 2 === 0 ? "temp" : "hum"), READINGS[(c * 5 + k * 3 + c % 4) % READINGS.length]);
  chunks.push(s);
}
const all = { connId: 1, queue: [], inflight: [] };
const kitchen = { connId: 2, queue: [], inflight: [] };
const routes: any = {};
for (const room of ROOMS) for (const t of ["temp", "hum"]) {
  const two = room === "kitchen" && t === "temp";
  routes[key("house/" + room + "/" + t)] = { to: two ? [all, kitchen] : [all], qos: two ? [0, 0] : [0], matched: 1, writers: undefined, out: undefined };
}
let written = 0;
const write = (d: string) => { written += d.length; };
const stats: any = { bytesReceived: 0, messagesReceived: 0, publishReceived: 0, publishSent: 0, messagesSent: 0, bytesSent: 0 };
const b: any = { stats: stats, profile: { maxPayloadSize: 0, maxInflight: 4 }, routes: routes, platform: { now: Date.now },
  framedPacket: () => { throw new Error("a packet for the parser"); }, data: () => { throw new Error("a packet for the parser"); } };
const socks: any = { socks: { s1: { write: write }, s2: { write: write } }, queue: { s1: 0, s2: 0 }, written: 0 };
const rx: any = { conn: { id: 9, state: 1, protocolLevel: 4, acl: undefined, lastReceived: 0 }, pend: "", inside: false };
const u8 = new Uint8Array(256);
const t0 = getTime();
for (let r = 0; r < ${ROUNDS}; r++) for (let i = 0; i < chunks.length; i++) receive(b, socks, rx, chunks[i], u8, false);
print("RESULT " + ((getTime() - t0) * 1000 / (${ROUNDS} * chunks.length)) + " " + stats.publishSent + " " + written);
`;

/** Stand-ins for the modules receive.ts reaches beyond what this measures. */
const STUBS: { [name: string]: string } = {
  "broker/deliver": "export function deliverStored() { throw new Error('QoS 1/2 is not measured here'); }",
  "codec/text": "export const text = { put() {} };",
  "session/session": "export const AWAIT_PUBACK = 1, AWAIT_PUBREC = 2, AWAIT_PUBCOMP = 3;",
  "broker/connection": "export const CONNECTED = 1, CLOSED = 2;",
};

/** The driver and `source` (receive.ts's text) as one ES5 script, lowered as the board's build lowers it. */
async function script(source: string, per: number): Promise<string> {
  const bundled = await build({
    stdin: { contents: `const PER = ${per};\n` + DRIVER, loader: "ts", resolveDir: ROOT },
    bundle: true, format: "iife", target: "es2015", write: false, minifySyntax: true, minifyWhitespace: true, legalComments: "none",
    define: { BOARD_BUILD: "true" }, logLevel: "error",
    plugins: [{
      name: "receive-under-test",
      setup(b) {
        b.onResolve({ filter: /^receive-under-test$/ }, () => ({ path: "receive", namespace: "under-test" }));
        b.onLoad({ filter: /.*/, namespace: "under-test" }, () => ({ contents: source, loader: "ts", resolveDir: path.dirname(RECEIVE) }));
        const stubbed = new RegExp("(" + Object.keys(STUBS).map((s) => s.replace("/", "\\/")).join("|") + ")$");
        b.onResolve({ filter: stubbed }, (a) => ({ path: Object.keys(STUBS).find((s) => a.path.endsWith(s))!, namespace: "stub" }));
        b.onLoad({ filter: /.*/, namespace: "stub" }, (a) => ({ contents: STUBS[a.path], loader: "ts" }));
      },
    }],
  });
  const es5 = ts.transpileModule(bundled.outputFiles[0].text, {
    compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.None, removeComments: true, ignoreDeprecations: "6.0" } as ts.CompilerOptions,
    reportDiagnostics: false,
  }).outputText;
  return transformSync(es5, { minify: true, target: "es5", legalComments: "none", logLevel: "error" }).code;
}

/** One run of `file` in a fresh interpreter: ms per chunk, copies sent, bytes written. */
function runOnce(file: string): { ms: number; sent: number; bytes: number } {
  const r = spawnSync(espruinoPath(), [file], { input: "", encoding: "latin1", timeout: 120000 });
  const m = /RESULT ([\d.]+) (\d+) (\d+)/.exec(r.stdout || "");
  if (!m) throw new Error(`no result from the interpreter (${file}):\n${(r.stdout || "").slice(-600)}${r.stderr || ""}`);
  return { ms: Number(m[1]), sent: Number(m[2]), bytes: Number(m[3]) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const at = process.argv.indexOf("--base");
  const base = at >= 0 ? process.argv[at + 1] : undefined;
  const variants: { name: string; source: string }[] = [{ name: "now", source: fs.readFileSync(RECEIVE, "utf8") }];
  if (base !== undefined) {
    const old = execFileSync("git", ["show", `${base}:firmware/espruino/receive.ts`], { cwd: ROOT, encoding: "utf8" });
    variants.unshift({ name: base, source: old });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "espruino-receive-"));
  try {
    console.log(`receive() on the interpreter, ${CHUNKS} house chunks ${ROUNDS} times a run, ${TURNS} runs each in turns (ms per chunk: lowest / median)`);
    for (const per of [1, 5, 10]) {
      const files = await Promise.all(variants.map(async (v, i) => {
        const file = path.join(dir, `v${i}-${per}.js`);
        fs.writeFileSync(file, await script(v.source, per));
        return file;
      }));
      const ms: number[][] = variants.map(() => []);
      const checks = new Set<string>();
      for (let t = 0; t < TURNS; t++) {
        files.forEach((f, i) => {
          const r = runOnce(f);
          ms[i].push(r.ms);
          checks.add(`${r.sent} copies, ${r.bytes} bytes`);
        });
      }
      // every variant must have delivered the same: otherwise the figures compare different work
      if (checks.size !== 1) throw new Error(`the variants delivered differently: ${[...checks].join("; ")}`);
      const line = variants.map((v, i) => `${v.name} ${Math.min(...ms[i]).toFixed(2)} / ${median(ms[i]).toFixed(2)}`).join("   ");
      const ratio = variants.length === 2 ? `   now/base ${(Math.min(...ms[1]) / Math.min(...ms[0])).toFixed(2)}` : "";
      console.log(`  ${String(per).padStart(2)} packets a chunk: ${line}${ratio}   (${[...checks][0]})`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
