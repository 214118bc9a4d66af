/**
 * `npm run device-test -- --port /dev/ttyUSB0 [--board esp32] [--mqtt]`
 *
 * Uploads the on-device suite (dist/espruino/selftest.js) to the board's
 * flash, runs it there, streams its lines back over the same port and exits
 * non-zero if any test failed. With --mqtt it then flashes the broker and
 * drives MQTT.js clients at the board's address.
 */
import { buildEspruino } from "./build";
import { splitColdFiles } from "./cold-files";
import { flash, FlashOptions } from "./flash";
import { ConsoleError, EspruinoConsole, openLink } from "./console";

export const SELFTEST_FILE = "mqttest.js";

export interface DeviceTestResult {
  passed: number;
  failed: number;
  lines: string[];
  mqtt?: string;
}

export async function deviceTest(opts: FlashOptions & { mqtt?: boolean }): Promise<DeviceTestResult> {
  const out = opts.out ?? ((l: string) => console.log(l));
  // the suite reads the board's configuration: flash the broker first if there is none
  let con = new EspruinoConsole(await openLink(opts.port));
  let hasConfig: boolean;
  try {
    await con.hello();
    hasConfig = await con.evalJson<boolean>('require("Storage").read("mqtt.json")!==undefined');
  } finally {
    await con.close();
  }
  if (!hasConfig) await flash({ ...opts, out });

  con = new EspruinoConsole(await openLink(opts.port));
  const lines: string[] = [];
  let passed = -1;
  let failed = -1;
  try {
    await con.hello();
    // a quiet board for the upload: reset() stops the broker (its sockets, timers, memory) until
    // the suite runs; the flash keeps the broker for the next boot
    con.link.write("\x10reset()\n");
    await new Promise((r) => setTimeout(r, 1500));
    await con.hello();
    // its cold code in Storage files of its own, beside the broker's (espruino-cold-files.ts)
    const bundle = splitColdFiles(buildEspruino({ entry: "selftest", quiet: true }));
    const code = bundle.main;
    out(`uploading the on-device suite (${code.length} bytes, and ${bundle.files.length} files of cold code)`);
    for (const f of bundle.files) await con.writeFile(f.name, Buffer.from(f.text, "latin1"));
    await con.writeFile(SELFTEST_FILE, Buffer.from(code, "latin1"));
    const from = con.output.length;
    let partial = "";
    con.onText = (t) => {
      partial += t;
      let i: number;
      while ((i = partial.indexOf("\n")) >= 0) {
        const line = partial.slice(0, i).replace(/\r$/, "").replace(/^>?\x1b\[J/, "");
        partial = partial.slice(i + 1);
        if (/^(ok|not ok|#) /.test(line)) {
          lines.push(line);
          out(line);
        }
      }
    };
    con.link.write(`\x10load(${JSON.stringify(SELFTEST_FILE)})\n`);
    const text = await con.waitFor(/# passed \d+ failed \d+|Uncaught[^\n]*|OUT OF MEMORY/, 120000, from);
    const m = text.match(/# passed (\d+) failed (\d+)/);
    if (!m) throw new ConsoleError(`the suite stopped: ${text.trim().slice(-400)}`);
    passed = Number(m[1]);
    failed = Number(m[2]);
    con.onText = undefined;
  } finally {
    await con.close();
  }
  const result: DeviceTestResult = { passed, failed, lines };
  if (opts.mqtt) {
    // back to the broker, then a client round trip at the board's address
    const up = await flash({ ...opts, out });
    result.mqtt = await mqttRoundTrip(up.host, up.port);
    out(`mqtt round trip at ${up.host}:${up.port}: ${result.mqtt}`);
  }
  return result;
}

export async function mqttRoundTrip(host: string, port: number): Promise<string> {
  const mqtt = await import("mqtt");
  const sub = await mqtt.connectAsync(`mqtt://${host}:${port}`, { protocolVersion: 4, clientId: "device-test-sub", reconnectPeriod: 0 });
  const pub = await mqtt.connectAsync(`mqtt://${host}:${port}`, { protocolVersion: 4, clientId: "device-test-pub", reconnectPeriod: 0 });
  try {
    await sub.subscribeAsync("device-test/#", { qos: 1 });
    const got = new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no message within 10 s")), 10000);
      sub.on("message", (topic, payload) => {
        clearTimeout(t);
        resolve(`${topic} ${payload.toString()}`);
      });
    });
    await pub.publishAsync("device-test/ping", "pong", { qos: 1 });
    return await got;
  } finally {
    await sub.endAsync();
    await pub.endAsync();
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const opts: FlashOptions & { mqtt?: boolean } = { port: "", board: "esp32" };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--port" || argv[i] === "-p") opts.port = argv[++i];
    else if (argv[i] === "--board" || argv[i] === "-b") opts.board = argv[++i];
    else if (argv[i] === "--config" || argv[i] === "-c") opts.config = argv[++i];
    else if (argv[i] === "--mqtt") opts.mqtt = true;
    else {
      console.error(`device-test: unknown option "${argv[i]}"`);
      process.exit(2);
    }
  }
  if (opts.port === "") {
    console.error("device-test: --port is required (a serial device or tcp://HOST[:PORT])");
    process.exit(2);
  }
  deviceTest(opts).then((r) => {
    console.log(`device-test: ${r.passed} passed, ${r.failed} failed`);
    process.exit(r.failed === 0 && r.passed > 0 ? 0 : 1);
  }, (e) => {
    console.error(`device-test: ${(e as Error).message}`);
    process.exit(1);
  });
}
