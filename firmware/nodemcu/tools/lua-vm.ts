/**
 * The reference Lua 5.1 and 5.3 interpreters compiled to WebAssembly
 * (lua-wasm-bindings, from npm: no Debian package needed), with NodeMCU's
 * modules provided from the JavaScript side by firmware/nodemcu/tools/nodemcu_vm.lua: a
 * simulated net module that the host feeds bytes into and takes bytes out
 * of, a clock the host moves. Values cross the boundary as strings, bytes as
 * hex.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { brokerFor, VECTORS_51, VECTORS_53 } from "./build";
import { toLua } from "./config";
import { BrokerConfig } from "../../core/config";
import { bytesToHex, hexToBytes } from "../../../host-sim/sim";

const ROOT = path.join(__dirname, "..", "..", "..");
export const VM_MODULES = path.join(__dirname, "nodemcu_vm.lua");
/** NodeMCU's node, tmr and file modules, shared with the socket shim (nodemcu_vm.lua installs them). */
export const NODEMCU_MODULES = path.join(__dirname, "nodemcu_modules.lua");

type Bindings = typeof import("lua-wasm-bindings/dist/lua.51");

function bindings(version: "5.1" | "5.3"): Bindings {
  // each module instantiates its interpreter when first required
  return version === "5.1" ? require("lua-wasm-bindings/dist/lua.51") : require("lua-wasm-bindings/dist/lua.53");
}

export class LuaVm {
  version: "5.1" | "5.3";
  private b: Bindings;
  private L: ReturnType<Bindings["lauxlib"]["luaL_newstate"]>;

  constructor(version: "5.1" | "5.3") {
    this.version = version;
    this.b = bindings(version);
    this.L = this.b.lauxlib.luaL_newstate();
    this.b.lualib.luaL_openlibs(this.L);
  }

  /** Run a chunk; returns its first result as a string ("" for none or nil). Lua errors throw. */
  run(code: string, name = "chunk"): string {
    const { lua, lauxlib } = this.b;
    const top = lua.lua_gettop(this.L);
    // luaL_loadbuffer names the chunk but exists only up to 5.1 in the bindings
    let status: number = this.version === "5.1"
      ? lauxlib.luaL_loadbuffer(this.L, code, Buffer.byteLength(code), "=" + name)
      : lauxlib.luaL_loadstring(this.L, code);
    if (status === 0) status = lua.lua_pcall(this.L, 0, 1, 0);
    if (status !== 0) {
      const msg = lua.lua_tostring(this.L, -1);
      lua.lua_settop(this.L, top);
      throw new Error(`Lua ${this.version}: ${msg}`);
    }
    const type = lua.lua_type(this.L, -1);
    // LUA_TNIL = 0
    const out = type === 0 ? "" : lua.lua_tostring(this.L, -1) ?? "";
    lua.lua_settop(this.L, top);
    return out;
  }

  /** Load a Lua file's text as a global (its returned value). */
  load(global: string, file: string): void {
    const text = fs.readFileSync(file, "utf8");
    // a chunk is a function body: wrapping it keeps its locals and its return value
    this.run(`${global} = (function(...)\n${text}\nend)()`, path.basename(file));
  }

  close(): void {
    this.b.lua.lua_close(this.L);
  }
}

/** A VM with NodeMCU's modules and the broker bundle loaded (global MQTT). */
export function brokerVm(version: "5.1" | "5.3"): LuaVm {
  const vm = new LuaVm(version);
  vm.load("NODEMCU_MODULES", NODEMCU_MODULES);
  vm.load("VM", VM_MODULES);
  vm.load("MQTT", brokerFor(version));
  return vm;
}

/** The differential harness (test/lua/vectors.ts compiled) in a VM of its own. */
export function vectorsVm(version: "5.1" | "5.3"): LuaVm {
  const vm = new LuaVm(version);
  vm.load("VECTORS", version === "5.1" ? VECTORS_51 : VECTORS_53);
  return vm;
}

export function boardConfigLua(config: BrokerConfig): string {
  const c = { ...config, auth: { ...config.auth, anonymousLoopbackOnly: false }, persistenceLocation: undefined };
  return toLua({ config: c, wifi: undefined, verbose: false });
}

/** One simulated client connection of a broker in a VM. */
export class VmSocket {
  vm: LuaVm;
  id: number;
  inbox: number[] = [];
  closed = false;
  /** Bytes per receive callback (1: every byte alone). */
  step: number;
  constructor(vm: LuaVm, id: number, step: number) {
    this.vm = vm;
    this.id = id;
    this.step = step;
  }
  write(data: Uint8Array | string): void {
    const hex = typeof data === "string" ? data.replace(/\s+/g, "") : bytesToHex(data).replace(/\s+/g, "");
    if (this.closed) return;
    this.vm.run(`vm.write(${this.id}, "${hex}", ${this.step})`);
  }
  /** Collect what the broker sent (completing its sends); notes whether it closed the connection. */
  pull(): void {
    const r = this.vm.run(`return vm.take(${this.id})`);
    const [hex, state] = r.split("|");
    for (const b of hexToBytes(hex)) this.inbox.push(b);
    if (state === "closed") this.closed = true;
  }
  drop(): void {
    this.vm.run(`vm.drop(${this.id})`);
    this.closed = true;
  }
}

export interface VmBroker {
  vm: LuaVm;
  port: number;
  connect(step?: number): VmSocket;
  advance(ms: number): void;
  stop(): void;
}

/** Start a broker with `config` in the VM (stopping the one before). */
export function startVmBroker(vm: LuaVm, config: BrokerConfig): VmBroker {
  vm.run("MQTT.stop(); vm.reset()");
  vm.run(`local ok = MQTT.start(${boardConfigLua(config)}); if ok == nil then error("MQTT.start returned nil") end`);
  const port = config.listeners[0].port;
  return {
    vm,
    port,
    connect(step = 1460) {
      const id = Number(vm.run(`return vm.connect(${port})`));
      if (id < 0) throw new Error(`connection refused (${id})`);
      return new VmSocket(vm, id, step);
    },
    advance(ms: number) {
      vm.run(`vm.advance(${ms})`);
    },
    stop() {
      vm.run("MQTT.stop(); vm.reset()");
    },
  };
}
