/**
 * `npm run flash:nodemcu` against a virtual NodeMCU console: socat makes a
 * pseudo-terminal (the board on a USB cable, minus the cable) wired to
 * test/support/nodemcu_console.lua, a Lua REPL that answers like NodeMCU's
 * UART console (banner, echo, "> " prompt, 255-character lines) and whose
 * `file` module writes into a temporary folder. The upload goes through the
 * real serialport package; then the uploaded broker boots from that folder
 * (init.lua, config.lua, broker.lua) under the luasocket shim, and MQTT.js
 * talks to it. Needs Debian's socat, lua5.1, lua5.3 and lua-socket.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BROKER_51, BROKER_53 } from "../../firmware/nodemcu/tools/build";
import { flashNodeMcu, NodeMcuError } from "../../firmware/nodemcu/tools/flash";
import { checkLua, ensureLuaBuild, SHIM, startLuaBroker } from "../../firmware/nodemcu/tools/sim";
import { connect, publish, subscribe, Tracker } from "../support/e2e-helpers";
import { requireTool } from "../support/tools";

const CONSOLE = path.join(__dirname, "..", "support", "nodemcu_console.lua");
const tracker = new Tracker();

interface VirtualBoard {
  dir: string;
  tty: string;
  proc: ChildProcess;
  log(): string;
  kill(): Promise<void>;
}

async function virtualBoard(lua: string, program: string[]): Promise<VirtualBoard> {
  requireTool("socat", "socat");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nodemcu-console-"));
  const tty = path.join(dir, "ttyNodeMCU");
  const exec = [lua, ...program].join(" ");
  const proc = spawn("socat", [`PTY,link=${tty},raw,echo=0`, `EXEC:"${exec}",pty,raw,echo=0`], {
    cwd: dir, stdio: ["ignore", "pipe", "pipe"], detached: true,
  });
  let out = "";
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const deadline = Date.now() + 10000;
  while (!fs.existsSync(tty) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!fs.existsSync(tty)) throw new Error(`socat made no pty at ${tty}: ${out}`);
  return {
    dir,
    tty,
    proc,
    log: () => out,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-proc.pid!, "SIGTERM");
        } catch {
          proc.kill("SIGTERM");
        }
        await exited;
      }
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

test.after.each(() => tracker.closeAll());

for (const lua of ["lua5.1", "lua5.3"]) {
  test(`${lua}: flash:nodemcu uploads over a pty through the Lua prompt; the board boots into a working broker`, async () => {
    requireTool(lua, lua);
    checkLua(lua);
    ensureLuaBuild();
    const board = await virtualBoard(lua, [CONSOLE, SHIM]);
    const mqttPort = await freePort();
    const lines: string[] = [];
    try {
      const r = await flashNodeMcu({ port: board.tty, mqttPort, restart: false, out: (l) => lines.push(l) });
      assert.is(r.lua, lua === "lua5.1" ? "Lua 5.1" : "Lua 5.3");
      assert.is(r.board, lua === "lua5.1" ? "nodemcu-esp8266" : "nodemcu-esp32");
      assert.ok(lines.some((l) => /broker\.lua: 100%/.test(l)), lines.join("\n"));
    } finally {
      await board.kill();
    }
    // the flash holds exactly what was sent, and nothing half-written
    const expected = fs.readFileSync(lua === "lua5.1" ? BROKER_51 : BROKER_53);
    assert.ok(fs.readFileSync(path.join(board.dir, "broker.lua")).equals(expected), "broker.lua arrived byte for byte");
    assert.ok(fs.existsSync(path.join(board.dir, "init.lua")));
    assert.match(fs.readFileSync(path.join(board.dir, "config.lua"), "latin1"), new RegExp(`port = ${mqttPort}`));
    assert.equal(fs.readdirSync(board.dir).filter((f) => f.endsWith(".tmp")), []);
    // boot it: init.lua, config.lua and broker.lua from the flash folder, under the shim
    const b = await startLuaBroker({ lua, dir: board.dir, asFlashed: true });
    try {
      assert.is(b.port, mqttPort);
      const sub = await connect(b.port, { clientId: "flashed-sub" }, tracker);
      const pub = await connect(b.port, { clientId: "flashed-pub" }, tracker);
      await subscribe(sub.client, { "flashed/#": 1 });
      await publish(pub.client, "flashed/hello", "from the uploaded broker", 1);
      const m = await sub.inbox.next();
      assert.equal([m.topic, m.payload, m.qos], ["flashed/hello", "from the uploaded broker", 1]);
    } finally {
      await tracker.closeAll();
      await b.stop();
      fs.rmSync(board.dir, { recursive: true, force: true });
    }
  });
}

test("flash:nodemcu names the problem when the port answers but gives no NodeMCU prompt", async () => {
  // `cat` echoes everything and never prompts
  const board = await virtualBoard("cat", []);
  try {
    let err: Error | undefined;
    try {
      await flashNodeMcu({ port: board.tty, restart: false, timeoutMs: 500, out: () => {} });
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err instanceof NodeMcuError, String(err));
    assert.match(err!.message, /no NodeMCU Lua prompt/);
  } finally {
    await board.kill();
    fs.rmSync(board.dir, { recursive: true, force: true });
  }
});

test("flash:nodemcu stops at an error the board reports, leaving the old broker.lua in place", async () => {
  requireTool("lua5.1", "lua5.1");
  checkLua("lua5.1");
  const board = await virtualBoard("lua5.1", [CONSOLE, SHIM]);
  try {
    fs.writeFileSync(path.join(board.dir, "broker.lua"), "-- the old one\n");
    // a file the board cannot create: file.open answers nil (here a folder in the way, which file.remove cannot remove)
    fs.mkdirSync(path.join(board.dir, "config.lua.tmp", "in-the-way"), { recursive: true });
    let err: Error | undefined;
    try {
      await flashNodeMcu({ port: board.tty, restart: false, out: () => {} });
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err instanceof NodeMcuError, String(err));
    assert.match(err!.message, /cannot create config\.lua\.tmp/);
    assert.is(fs.readFileSync(path.join(board.dir, "broker.lua"), "latin1"), "-- the old one\n");
  } finally {
    await board.kill();
    fs.rmSync(board.dir, { recursive: true, force: true });
  }
});

test.run();
