/**
 * Summarise V8 CPU profiles (`node --cpu-prof`, as `npm run bench -- --profile DIR`
 * writes for our broker): self time per function, heaviest first, with the
 * share of the time the process was busy (idle excluded).
 *
 *   npx tsx scripts/bench/profile.ts DIR_OR_FILE [TOP] [--after FUNCTION]
 *
 * --after FUNCTION  count only samples from the first one in FUNCTION on
 *                   (e.g. `dispatch`: leaves out start-up and module loading)
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
}

/** Self time per function of one profile, and the busy (non-idle) total. */
export function summarise(profile: CpuProfile, after?: string): { busyMs: number; totalMs: number; rows: SelfTime[] } {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<string, SelfTime>();
  let busy = 0;
  let total = 0;
  let started = after === undefined;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = (profile.timeDeltas[i] || 0) / 1000;
    if (!started) {
      if (node === undefined || node.callFrame.functionName !== after) continue;
      started = true;
    }
    total += dt;
    if (node === undefined) continue;
    const f = node.callFrame;
    const name = f.functionName === "" ? "(anonymous)" : f.functionName;
    if (name === "(idle)") continue;
    busy += dt;
    const file = f.url === "" ? "" : path.relative(process.cwd(), f.url.replace(/^file:\/\//, ""));
    const where = file === "" ? "" : file + ":" + (f.lineNumber + 1);
    const key = name + " " + where;
    let row = self.get(key);
    if (row === undefined) {
      row = { name, where, ms: 0 };
      self.set(key, row);
    }
    row.ms += dt;
  }
  const rows = Array.from(self.values()).sort((a, b) => b.ms - a.ms);
  return { busyMs: busy, totalMs: total, rows };
}

function main(): void {
  const args = process.argv.slice(2);
  let after: string | undefined;
  const ai = args.indexOf("--after");
  if (ai >= 0) {
    after = args[ai + 1];
    args.splice(ai, 2);
  }
  const target = args[0];
  const top = Number(args[1] || 25);
  if (target === undefined) {
    console.error("usage: profile.ts DIR_OR_FILE [TOP]");
    process.exit(2);
  }
  const files = statSync(target).isDirectory()
    ? readdirSync(target).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(target, f))
    : [target];
  for (const file of files) {
    const s = summarise(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, after);
    if (s.busyMs < 1) continue;
    console.log(path.basename(file) + ": busy " + s.busyMs.toFixed(0) + " ms of " + s.totalMs.toFixed(0) + " ms");
    for (const r of s.rows.slice(0, top)) {
      console.log("  " + ((100 * r.ms) / s.busyMs).toFixed(1).padStart(5) + "%  " + r.ms.toFixed(0).padStart(6) + " ms  " + r.name + "  " + r.where);
    }
  }
}

if (require.main === module) main();
