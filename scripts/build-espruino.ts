/**
 * `npm run build`: the core plus the Espruino adapter as one ES5 file,
 * dist/espruino/broker.js. tsc lowers TypeScript to ES5 (Espruino has no
 * destructuring, spread, default parameters...), esbuild bundles the modules
 * flat and minifies, then the result is checked for constructs Espruino
 * rejects (scripts/espruino-check.ts).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildSync } from "esbuild";
import { checkEspruinoSource } from "./espruino-check";

const ROOT = path.join(__dirname, "..");
export const BUNDLE = path.join(ROOT, "dist", "espruino", "broker.js");
export const SELFTEST_BUNDLE = path.join(ROOT, "dist", "espruino", "selftest.js");

export interface BuildOptions {
  minify?: boolean;
  quiet?: boolean;
  /** "broker" (the firmware, boot.ts) or "selftest" (the on-device suite). */
  entry?: "broker" | "selftest";
}

export function buildEspruino(opts: BuildOptions = {}): string {
  const selftest = opts.entry === "selftest";
  const outfile = selftest ? SELFTEST_BUNDLE : BUNDLE;
  const tmp = path.join(ROOT, ".build", "espruino");
  fs.rmSync(tmp, { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(ROOT, "tsconfig.espruino.json")], { stdio: "inherit" });
  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  buildSync({
    entryPoints: [path.join(tmp, "firmware", "espruino", selftest ? "selftest-run.js" : "boot.js")],
    bundle: true,
    format: "iife",
    target: "es5",
    minify: opts.minify !== false,
    outfile,
    legalComments: "none",
    logLevel: "error",
  });
  const code = fs.readFileSync(outfile, "utf8");
  const name = path.relative(ROOT, outfile);
  const problems = checkEspruinoSource(code);
  if (problems.length > 0) {
    throw new Error(`${name} has constructs Espruino rejects:\n  ${problems.join("\n  ")}`);
  }
  if (!opts.quiet) console.log(`${name}: ${code.length} bytes, Espruino construct check passed`);
  return code;
}

if (require.main === module) {
  try {
    buildEspruino();
    buildEspruino({ entry: "selftest" });
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
