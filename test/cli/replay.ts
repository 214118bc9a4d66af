/**
 * `npm run replay -- [CORPUS_DIR] [--tcp PORT] [--split]`: replay Eclipse
 * Mosquitto's message-sequence cases (default test/conformance/
 * mosquitto-msg-sequence) against a fresh simulated broker per case, or
 * against any broker already listening on 127.0.0.1:PORT (ours on a board,
 * mosquitto, another). Prints each failure and "N passed, M failed".
 */
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { cleanUpAfter, DEFAULT_CORPUS, DEVIATIONS, loadCases, Outcome, runCaseSim, runCaseTcp } from "../support/replay";

async function main(argv: string[]): Promise<number> {
  let dir = DEFAULT_CORPUS;
  let port: number | undefined;
  let split = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--tcp") port = Number(argv[++i]);
    else if (argv[i] === "--split") split = true;
    else dir = argv[i];
  }
  const cases = loadCases(dir);
  let passed = 0;
  let failed = 0;
  for (const c of cases) {
    let r: Outcome;
    if (port !== undefined) {
      r = await runCaseTcp(c, port, 4000);
      await cleanUpAfter(c, port, 4000);
    } else {
      r = runCaseSim(c, defaultConfig(loadProfile("host")), split);
    }
    if (r === undefined) passed++;
    else if (DEVIATIONS[c.name] !== undefined) console.log(`deviation ${c.file} | ${c.name}: ${DEVIATIONS[c.name]}`);
    else {
      failed++;
      console.log(`FAIL ${c.file} | ${c.name}: ${r}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  console.error(`replay: ${(e as Error).message}`);
  process.exit(2);
});
