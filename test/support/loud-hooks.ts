/**
 * Preloaded by every uvu run (package.json's `uvu` script: node -r, since uvu's
 * own -r resolves a path from inside node_modules/uvu).
 * uvu's runner returns from a `finally`, so an error a suite's hook throws
 * is dropped without a word: the suite's count comes up short and nothing
 * says why (stop 28's CI read 1,626 of 1,627 passed and no FAIL line). Each
 * hook registered on uvu's `test`, or on a `suite()`, prints what it threw
 * as a FAIL line (which .ci/run collects at the end) and sets a failing
 * exit code (uvu's own stays 0) before uvu drops it.
 */
import type * as Uvu from "uvu";

// the exports object itself (an `import` would give a copy whose `suite` cannot be replaced)
// eslint-disable-next-line @typescript-eslint/no-var-requires
const uvu = require("uvu") as { test: Uvu.Test; suite: typeof Uvu.suite };

type Register = (hook: Uvu.Callback) => void;

let hookThrew = false;
// uvu sets its exit code (0 here) once it has run every suite: this comes after
process.on("exit", () => {
  if (hookThrew) process.exitCode = 1;
});

function loud(kind: string, register: Register): Register {
  return (hook) =>
    register(async (state) => {
      try {
        await hook(state);
      } catch (err) {
        hookThrew = true;
        const at = state.__test__ ? ` at test "${state.__test__}"` : "";
        const what = err instanceof Error ? err.stack ?? err.message : String(err);
        console.error(`\n  FAIL  ${kind} hook of suite "${state.__suite__}"${at} threw (uvu drops this error): ${what}\n`);
        throw err;
      }
    });
}

/** The four hook registrations of one uvu test object, each made loud. */
function makeLoud<T extends Uvu.Test>(t: T): T {
  const before = t.before;
  const after = t.after;
  t.before = Object.assign(loud("before", before), { each: loud("before.each", before.each) });
  t.after = Object.assign(loud("after", after), { each: loud("after.each", after.each) });
  return t;
}

makeLoud(uvu.test);
const suite = uvu.suite;
uvu.suite = ((name?: string, state?: Uvu.Context) => makeLoud(suite(name, state))) as typeof Uvu.suite;
