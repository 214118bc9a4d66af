/**
 * `npm run flash:nodemcu -- --port /dev/ttyUSB0 [--board nodemcu-esp8266|nodemcu-esp32]
 *   [--config mosquitto.conf] [--mqtt-port 1883] [--wifi SSID] [--ap] [--verbose]
 *   [--compile] [--no-restart] [--baud 115200]`
 *   (the Wi-Fi password comes from MQTT_WIFI_PASSWORD, or is asked for)
 *
 * Uploads the NodeMCU broker to a board running NodeMCU's Lua firmware, over
 * its serial console, the way NodeMCU's own upload tools do: at the Lua
 * prompt, `file.open(NAME, "w+")`, then `file.write("...")` one line at a
 * time (each line under the console's 255 characters, bytes escaped as
 * \ddd), waiting for the "> " prompt after each, then `file.close()`; each
 * file goes to NAME.tmp and is renamed once complete and its size checked.
 * Files: config.lua (from the board profile, a mosquitto.conf and the Wi-Fi
 * options), broker.lua (dist/lua/broker.lua for Lua 5.1, broker53.lua for
 * 5.3: the console says which) and init.lua. Then the board restarts into
 * the broker. An ESP8266 has no heap to compile broker.lua: put it in the
 * Lua Flash Store (docs/lua.md); --compile runs node.compile on the board
 * (an ESP32 can).
 */
import * as fs from "node:fs";
import { BROKER_51, BROKER_53, buildLua, INIT_LUA } from "./build";
import { BoardLink, openLink } from "../../tools/board-link";
import { configLua } from "./config";
import { readFlags } from "../../tools/flags";

export const WIFI_PASSWORD_ENV = "MQTT_WIFI_PASSWORD";
/** NodeMCU's console reads at most 255 characters a line (LUA_MAXINPUT 256). */
const MAX_LINE = 240;

export interface NodeMcuFlashOptions {
  port: string;
  /** Board profile; by default nodemcu-esp8266 on Lua 5.1, nodemcu-esp32 on 5.3. */
  board?: string;
  config?: string;
  /** The broker's listener when no mosquitto.conf gives one (default 1883). */
  mqttPort?: number;
  wifi?: string;
  wifiPassword?: string;
  accessPoint?: boolean;
  verbose?: boolean;
  /** node.compile("broker.lua") on the board after the upload. */
  compile?: boolean;
  /** Restart into the broker (default); false: dofile("init.lua") is not run either. */
  restart?: boolean;
  baud?: number;
  /** How long to wait for each prompt. */
  timeoutMs?: number;
  out?: (line: string) => void;
}

export interface NodeMcuFlashResult {
  lua: string;
  heap: number;
  board: string;
  files: { name: string; bytes: number }[];
}

export class NodeMcuError extends Error {}

/** A line-at-a-time conversation with NodeMCU's Lua prompt. */
export class NodeMcuConsole {
  private buf = "";
  private wake: (() => void) | undefined;
  private closed = false;
  constructor(private link: BoardLink, private timeoutMs: number) {
    link.onData((t) => {
      this.buf += t;
      if (this.wake) this.wake();
    });
    link.onClose(() => {
      this.closed = true;
      if (this.wake) this.wake();
    });
  }

  /** Wait until the output ends with the prompt; returns everything since the last call. */
  private async prompt(what: string): Promise<string> {
    const deadline = Date.now() + this.timeoutMs;
    // "> " ready, ">> " waiting for the rest of a statement
    while (!/(^|\n)>>? $/.test(this.buf)) {
      if (this.closed) throw new NodeMcuError(`the console closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new NodeMcuError(`no NodeMCU Lua prompt ("> ") after ${what} within ${this.timeoutMs} ms; got ${JSON.stringify(this.buf.slice(-200))}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
    }
    const text = this.buf;
    this.buf = "";
    return text;
  }

  /** Get a prompt: an empty line, a few times (the board may be printing its boot messages). */
  async hello(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      this.link.write("\n");
      try {
        await this.prompt("an empty line");
        return;
      } catch (e) {
        if (attempt === 2) throw e;
      }
    }
  }

  /**
   * Run one line of Lua at the prompt; returns what it printed (the echo of
   * the line removed). An error message from the interpreter throws.
   */
  async run(line: string): Promise<string> {
    if (line.length > MAX_LINE + 15) throw new Error(`console line too long (${line.length})`);
    this.link.write(line + "\n");
    let text = (await this.prompt(JSON.stringify(line.slice(0, 40)))).replace(/\r/g, "");
    const echo = text.indexOf(line);
    if (echo >= 0) text = text.slice(echo + line.length);
    if (/(^|\n)>> $/.test(text)) {
      throw new NodeMcuError(`the board took ${JSON.stringify(line.slice(0, 60))} as an unfinished statement (was the line cut?)`);
    }
    text = text.replace(/^\n/, "").replace(/(^|\n)> $/, "");
    if (/(^|\n)(stdin:\d+:|lua: |PANIC)/.test(text)) {
      throw new NodeMcuError(`the board refused ${JSON.stringify(line.slice(0, 60))}: ${text.trim()}`);
    }
    return text.replace(/\n$/, "");
  }

  /** Send a line without waiting for the prompt (node.restart() never gives one back). */
  send(line: string): void {
    this.link.write(line + "\n");
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

/** A Lua string literal for any bytes: printable ASCII as is, the rest as \ddd. */
export function luaLiteral(data: Buffer): string {
  let out = '"';
  for (const c of data) {
    if (c >= 32 && c < 127 && c !== 34 && c !== 92) out += String.fromCharCode(c);
    else out += "\\" + String(c).padStart(3, "0");
  }
  return out + '"';
}

/** Split `data` into file.write lines that each stay under the console's line limit. */
export function writeLines(data: Buffer): string[] {
  const lines: string[] = [];
  const budget = MAX_LINE - 'file.write("")'.length;
  let start = 0;
  while (start < data.length) {
    let len = 0;
    let cost = 0;
    while (start + len < data.length) {
      const c = data[start + len];
      const w = c >= 32 && c < 127 && c !== 34 && c !== 92 ? 1 : 4;
      if (cost + w > budget) break;
      cost += w;
      len++;
    }
    lines.push("file.write(" + luaLiteral(data.subarray(start, start + len)) + ")");
    start += len;
  }
  return lines;
}

async function upload(con: NodeMcuConsole, name: string, data: Buffer, out: (l: string) => void): Promise<void> {
  const tmp = name + ".tmp";
  await con.run(`file.remove(${JSON.stringify(tmp)})`);
  const opened = await con.run(`print(file.open(${JSON.stringify(tmp)}, "w+") and "open" or "failed")`);
  if (opened.trim() !== "open") throw new NodeMcuError(`cannot create ${tmp} on the board (flash full?): ${opened}`);
  const lines = writeLines(data);
  let shown = 0;
  for (let i = 0; i < lines.length; i++) {
    await con.run(lines[i]);
    const pct = Math.floor(((i + 1) * 100) / lines.length);
    if (pct >= shown + 20 || i === lines.length - 1) {
      shown = pct;
      out(`  ${name}: ${pct}%`);
    }
  }
  await con.run("file.close()");
  const size = Number((await con.run(`print(file.list()[${JSON.stringify(tmp)}] or -1)`)).trim());
  if (size !== data.length) throw new NodeMcuError(`${name}: the board holds ${size} bytes, ${data.length} were sent`);
  await con.run(`file.remove(${JSON.stringify(name)})`);
  const renamed = (await con.run(`print(file.rename(${JSON.stringify(tmp)}, ${JSON.stringify(name)}))`)).trim();
  if (renamed !== "true") throw new NodeMcuError(`${name}: rename from ${tmp} failed (${renamed})`);
}

export async function flashNodeMcu(opts: NodeMcuFlashOptions): Promise<NodeMcuFlashResult> {
  const out = opts.out ?? ((l: string) => console.log(l));
  if (!fs.existsSync(BROKER_51) || !fs.existsSync(BROKER_53)) buildLua({ quiet: true });
  out(`opening ${opts.port}`);
  const con = new NodeMcuConsole(await openLink(opts.port, opts.baud ?? 115200), opts.timeoutMs ?? 5000);
  try {
    await con.hello();
    const probe = await con.run('print("nodemcu:" .. _VERSION .. ":" .. ((node and node.heap) and node.heap() or -1))');
    const m = /nodemcu:(Lua [0-9.]+):(-?\d+)/.exec(probe);
    if (m === null) throw new NodeMcuError(`the port answers, but not like NodeMCU's Lua console: ${probe}`);
    const lua = m[1];
    const heap = Number(m[2]);
    const is53 = lua !== "Lua 5.1";
    const board = opts.board ?? (is53 ? "nodemcu-esp32" : "nodemcu-esp8266");
    out(`found NodeMCU (${lua}), ${heap} bytes of heap free; board profile ${board}`);
    const files: { name: string; data: Buffer }[] = [
      {
        name: "config.lua",
        data: Buffer.from(configLua({
          board, config: opts.config, port: opts.mqttPort, wifi: opts.wifi, wifiPassword: opts.wifiPassword,
          accessPoint: opts.accessPoint, verbose: opts.verbose,
        }), "latin1"),
      },
      { name: "broker.lua", data: fs.readFileSync(is53 ? BROKER_53 : BROKER_51) },
      { name: "init.lua", data: fs.readFileSync(INIT_LUA) },
    ];
    // a running broker would compete for the heap: stop it first (harmless when none runs)
    await con.run("if MQTT and MQTT.stop then MQTT.stop() end");
    for (const f of files) await upload(con, f.name, f.data, out);
    if (opts.compile) {
      out("compiling broker.lua on the board (node.compile)");
      await con.run('node.compile("broker.lua")');
    }
    if (opts.restart !== false) {
      out("restarting into the broker");
      con.send("node.restart()");
      await new Promise((r) => setTimeout(r, 200));
    }
    return { lua, heap, board, files: files.map((f) => ({ name: f.name, bytes: f.data.length })) };
  } finally {
    await con.close();
  }
}

async function askPassword(ssid: string): Promise<string> {
  const fromEnv = process.env[WIFI_PASSWORD_ENV];
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY) return "";
  const { promptTty } = await import("../../../host-sim/passwd-cli");
  return promptTty(`Wi-Fi password for ${ssid}: `) ?? "";
}

const USAGE = "npm run flash:nodemcu -- --port /dev/ttyUSB0 [--board nodemcu-esp8266|nodemcu-esp32] [--config mosquitto.conf] " +
  "[--mqtt-port 1883] [--wifi SSID [--ap]] [--verbose] [--compile] [--no-restart] [--baud 115200]\n" +
  `The Wi-Fi password comes from ${WIFI_PASSWORD_ENV}, or is asked for.`;

function parseArgs(argv: string[]): NodeMcuFlashOptions {
  const o: NodeMcuFlashOptions = { port: "" };
  readFlags(argv, USAGE, (a, v) => {
    if (a === "--port") o.port = v();
    else if (a === "--board") o.board = v();
    else if (a === "--config") o.config = v();
    else if (a === "--mqtt-port") o.mqttPort = Number(v());
    else if (a === "--wifi") o.wifi = v();
    else if (a === "--ap") o.accessPoint = true;
    else if (a === "--verbose" || a === "-v") o.verbose = true;
    else if (a === "--compile") o.compile = true;
    else if (a === "--no-restart") o.restart = false;
    else if (a === "--baud") o.baud = Number(v());
    else return false;
    return true;
  });
  if (o.port === "") throw new Error("--port is required: the board's serial device, e.g. /dev/ttyUSB0");
  return o;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.wifi !== undefined) opts.wifiPassword = await askPassword(opts.wifi);
  const r = await flashNodeMcu(opts);
  console.log(`done: ${r.files.map((f) => `${f.name} (${f.bytes} bytes)`).join(", ")} on ${r.lua}; ` +
    `the broker starts 3 s after boot on port ${opts.mqttPort ?? 1883}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
