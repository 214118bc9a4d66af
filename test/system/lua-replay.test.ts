/**
 * Eclipse Mosquitto's message-sequence corpus, byte for byte, against the
 * NodeMCU build on real Lua 5.1 and 5.3 (Debian's lua5.1, lua5.3 and
 * lua-socket) through the luasocket shim of NodeMCU's modules, over TCP, with
 * the nodemcu-esp8266 board profile. Every case gets a fresh broker process
 * on a fresh flash folder, so nothing one case leaves (a retained message, a
 * persistent session) reaches the next.
 */
import * as fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkLua, ensureLuaBuild, startLuaBroker } from "../../firmware/nodemcu/tools/sim";
import { Case, DEFAULT_CORPUS, DEVIATIONS, loadCases, Outcome, runCaseTcp } from "../support/replay";
import { requireTool } from "../support/tools";

const dir = process.env.CONFORMANCE_DIR || DEFAULT_CORPUS;
const cases = loadCases(dir);

for (const lua of ["lua5.1", "lua5.3"]) {
  test(`${lua}: every MQTT 3.1.1 and 3.1 case on a fresh NodeMCU broker (nodemcu-esp8266 profile)`, async () => {
    requireTool(lua, lua);
    checkLua(lua);
    ensureLuaBuild();
    const started = Date.now();
    const results: { c: Case; r: Outcome }[] = [];
    for (const c of cases) {
      const b = await startLuaBroker({ lua, board: "nodemcu-esp8266" });
      try {
        results.push({ c, r: await runCaseTcp(c, b.port) });
      } finally {
        await b.stop();
        fs.rmSync(b.dir, { recursive: true, force: true });
      }
    }
    const failed = results.filter((x) => x.r !== undefined && DEVIATIONS[x.c.name] === undefined);
    console.log(`  ${lua} replay: ${results.length - failed.length}/${results.length} passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(failed.map((x) => `${x.c.file} | ${x.c.name}: ${x.r}`), []);
  });
}

test.run();
