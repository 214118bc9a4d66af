/**
 * npm run soak -- [--seed N] [--clients N] [--minutes M] [--sim-seconds S] [--restart-every S] [--no-load] [--net sim|receive|tcp]
 *
 * Soak episodes (test/support/soak.ts) on the simulated network and clock,
 * one after another with seeds N, N+1, ... until M minutes of wall time have
 * passed (at least one); each episode simulates S seconds of faults with
 * N clients and checks every invariant. Then the load figures
 * (test/support/load.ts): connection flood, slow consumer, takeover storm,
 * brute force, on the host and ESP32 profiles. Exits 1 on any violation,
 * printing the command that replays the failing episode.
 *
 * --net: "sim" (the default) the simulated network; "receive" the same with
 * every chunk through the Espruino adapter's receive path (receive.ts);
 * "tcp" real TCP sockets on 127.0.0.1 behind host-sim/tcp.ts, in real time
 * (S real seconds an episode: keep it small, e.g. --sim-seconds 5
 * --clients 60; the seed fixes the script, not the timing).
 */
import { loadFigures } from "../support/load";
import { formatReport, runSoak, runSoakOn, SoakOptions, SoakReport, soakNetReceive } from "../support/soak";
import { runSoakTcp } from "../support/soak-tcp";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf("--" + name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v)) {
    console.error(`soak: --${name} needs a number, got "${process.argv[i + 1]}"`);
    process.exit(2);
  }
  return v;
}

const seed = arg("seed", 1);
const clients = arg("clients", 300);
const minutes = arg("minutes", 1);
const simSeconds = arg("sim-seconds", 300);
const restartEvery = arg("restart-every", 30);
const load = process.argv.indexOf("--no-load") < 0;
const ni = process.argv.indexOf("--net");
const netKind = ni >= 0 ? process.argv[ni + 1] : "sim";
if (netKind !== "sim" && netKind !== "receive" && netKind !== "tcp") {
  console.error(`soak: --net takes sim, receive or tcp, not "${netKind}"`);
  process.exit(2);
}

async function episode(o: SoakOptions): Promise<SoakReport> {
  if (netKind === "tcp") return runSoakTcp(o);
  if (netKind === "receive") return runSoakOn({ ...o, tempo: { qos0Burst: 0.05 } }, soakNetReceive(o));
  return runSoak(o);
}

async function main(): Promise<void> {

const started = Date.now();
let episodes = 0;
let failed = 0;
const total = { messages: 0, acked: 0, deliveries: 0, faults: 0, checks: 0, simMs: 0, wills: 0 };
for (let s = seed; ; s++) {
  const t = Date.now();
  const r = await episode({ seed: s, clients, simSeconds, restartEverySeconds: restartEvery, log: (l) => console.log(l) });
  episodes++;
  console.log(formatReport(r));
  console.log(`  wall ${((Date.now() - t) / 1000).toFixed(1)} s`);
  total.messages += r.messages.published;
  total.acked += r.messages.acked;
  total.deliveries += r.messages.delivered;
  total.faults += r.faultTotal;
  total.checks += r.checks;
  total.simMs += r.simulatedMs;
  total.wills += r.messages.wills;
  if (r.violations.length > 0) {
    failed++;
    console.log(`  REPLAY: npm run soak -- --seed ${s} --clients ${clients} --sim-seconds ${simSeconds} --restart-every ${restartEvery} --minutes 0 --net ${netKind}`);
  }
  if (Date.now() - started >= minutes * 60000) break;
}
console.log(`\nsoak total: ${episodes} episodes (seeds ${seed}..${seed + episodes - 1}), ${clients} clients each, ` +
  `${(total.simMs / 1000).toFixed(0)} s simulated, ${((Date.now() - started) / 1000).toFixed(0)} s wall`);
console.log(`  messages ${total.messages} (${total.acked} QoS 1/2 acknowledged), deliveries ${total.deliveries}, wills ${total.wills}, ` +
  `faults injected ${total.faults}, checks ${total.checks}, episodes with violations ${failed}`);
if (load) {
  console.log("\nload figures:");
  for (const line of loadFigures()) console.log("  " + line);
}
process.exit(failed > 0 ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
