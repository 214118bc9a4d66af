import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFlags } from "../../firmware/tools/flags";

/** The flags a tool would take: --port VALUE, --verbose, -b VALUE. */
function parse(argv: string[], fail?: (why: string) => Error): { [k: string]: string | boolean } {
  const o: { [k: string]: string | boolean } = {};
  readFlags(argv, undefined, (a, v) => {
    if (a === "--port") o.port = v();
    else if (a === "--verbose") o.verbose = true;
    else if (a === "-b") o.board = v();
    else return false;
    return true;
  }, fail);
  return o;
}

test("board tools' flags: values, switches, in any order; a missing value or an unknown flag refused by name", () => {
  assert.equal(parse(["--verbose", "--port", "/dev/ttyUSB0", "-b", "esp32"]), { verbose: true, port: "/dev/ttyUSB0", board: "esp32" });
  assert.equal(parse([]), {});
  // a value that looks like a flag is still the value
  assert.equal(parse(["--port", "--verbose"]), { port: "--verbose" });
  assert.throws(() => parse(["--port"]), /--port needs a value/);
  assert.throws(() => parse(["--speed", "9"]), /unknown option --speed$/);
  class ToolError extends Error {}
  assert.throws(() => parse(["-x"], (why) => new ToolError(why)), (e: Error) => e instanceof ToolError && /unknown option -x/.test(e.message));
});

test.run();
