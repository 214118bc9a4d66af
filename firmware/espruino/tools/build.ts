/**
 * `npm run build`: the core plus the Espruino adapter as one ES5 file,
 * dist/espruino/broker.js: esbuild bundles the TypeScript flat and minifies
 * it, TypeScript lowers the bundle to ES5, and the result is checked for
 * constructs Espruino rejects (check.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { buildSync, transformSync } from "esbuild";
import * as ts from "typescript";
import { ColdReport, dropUnused, inlineConstants, moveColdCode } from "./shrink";
import { COLD_FILE_PREFIX, coldToFiles, SELFTEST_COLD_PREFIX } from "./cold-files";
import { checkEspruinoSource } from "./check";
import { toGlobalScope } from "./global-scope";
import { mangleRegExp } from "./mangle";
import { inlineProfile } from "./inline-profile";
import { boardSources, coldMarks } from "./cold-roots";
import { inlineCalls, inlineMarks } from "./inline-calls";

const ROOT = path.join(__dirname, "..", "..", "..");
export const BUNDLE = path.join(ROOT, "dist", "espruino", "broker.js");
export const SELFTEST_BUNDLE = path.join(ROOT, "dist", "espruino", "selftest.js");
/** How the build renamed properties: flash.ts renames mqtt.json the same way. */
export const MANGLE_CACHE = path.join(ROOT, "dist", "espruino", "mangle.json");

export interface BuildOptions {
  minify?: boolean;
  quiet?: boolean;
  /** "broker" (the firmware, boot.ts) or "selftest" (the on-device suite). */
  entry?: "broker" | "selftest";
  /**
   * The board's limits (its profile with the configuration's overrides): written into the code in
   * place of each read of them (espruino-inline-profile.ts), for a bundle flashed onto that board.
   */
  limits?: { [field: string]: number };
  /** Told which functions went cold, with the code before identifiers are minified (for a census). */
  report?: (r: ColdReport, named: string) => void;
}

export function buildEspruino(opts: BuildOptions = {}): string {
  const selftest = opts.entry === "selftest";
  const outfile = selftest ? SELFTEST_BUNDLE : BUNDLE;
  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  // one renaming for every build, so the broker and the suite read the same mqtt.json
  const cache = fs.existsSync(MANGLE_CACHE) ? JSON.parse(fs.readFileSync(MANGLE_CACHE, "utf8")) : {};
  // a name no longer renamed (one since handed to Espruino) leaves the cache, which flash.ts renames mqtt.json by
  const renamed = mangleRegExp(ROOT);
  for (const name of Object.keys(cache)) if (!renamed.test(name)) delete cache[name];
  const minify = opts.minify !== false;
  // 1. bundle flat from TypeScript: esbuild inlines constants across modules
  //    (each one left would be a JsVar) and shortens property names
  const bundled = buildSync({
    entryPoints: [path.join(ROOT, "firmware", "espruino", selftest ? path.join("selftest", "run.ts") : "boot.ts")],
    bundle: true,
    format: "iife",
    target: "es2015",
    // identifiers keep their names until the cold-code pass has found its functions by name
    minifySyntax: minify,
    minifyWhitespace: minify,
    write: false,
    legalComments: "none",
    logLevel: "error",
    mangleProps: mangleRegExp(ROOT),
    mangleCache: cache,
    // the board's own choices (firmware/core/topics/subscription_index.ts)
    define: { BOARD_BUILD: "true" },
  });
  fs.writeFileSync(MANGLE_CACHE, JSON.stringify(bundled.mangleCache, null, 1));
  // 2. lower to ES5 (Espruino has no destructuring, spread, default parameters...)
  const es5 = ts.transpileModule(bundled.outputFiles[0].text, {
    compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.None, removeComments: true, ignoreDeprecations: "6.0" } as ts.CompilerOptions,
    reportDiagnostics: false,
  }).outputText;
  // 3. what is only needed now and then leaves the resident set (shrink.ts; cold-roots.ts says
  //    what, marked @cold in the source): the broker's bundle must hold every marked function
  //    before that, the cursor's one-expression reads written out where they are called (inline-calls.ts)
  const sources = boardSources(ROOT);
  const written = inlineCalls(es5, inlineMarks(sources), !selftest).code;
  const moved = moveColdCode(dropUnused(inlineConstants(written).code).code, coldMarks(sources).map((m) => m.name), !selftest);
  if (opts.report !== undefined) opts.report(moved.report, moved.code);
  // 4. minify: identifiers now, and again what the lowering brought back
  let minified = transformSync(moved.code, { minify, target: "es5", legalComments: "none", logLevel: "error" }).code;
  // 4b. the board's limits in place of reads of them, when built for one board
  //     (and minified again: what a limit decides, `0>0?a:b`, folds away)
  if (opts.limits !== undefined) {
    minified = inlineProfile(minified, opts.limits, bundled.mangleCache ?? {});
    minified = transformSync(minified, { minify, target: "es5", legalComments: "none", logLevel: "error" }).code;
  }
  // 5. each cold entry into a Storage file of its own (espruino-cold-files.ts)
  // 6. at global scope, where a function costs a JsVar less (espruino-global-scope.ts)
  const code = toGlobalScope(coldToFiles(minified, selftest ? SELFTEST_COLD_PREFIX : COLD_FILE_PREFIX));
  fs.writeFileSync(outfile, code);
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
