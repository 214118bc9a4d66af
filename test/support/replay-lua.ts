/**
 * The mosquitto message-sequence replay (replay.ts) on the NodeMCU broker in
 * the WebAssembly Lua VM (firmware/nodemcu/tools/lua-vm.ts).
 */
import { BrokerConfig } from "../../firmware/core/config";
import { LuaVm, startVmBroker, VmSocket } from "../../firmware/nodemcu/tools/lua-vm";
import { Case, connectBytes, Outcome, runCaseOn } from "./replay";

/** One replay case on a fresh broker in the VM (replay.ts's steps, over NodeMCU's simulated net). */
export function runCaseVm(c: Case, vm: LuaVm, config: BrokerConfig, split = false): Outcome {
  const br = startVmBroker(vm, config);
  try {
    const sock = br.connect(split ? 1 : 1460);
    const helpers: VmSocket[] = [];
    return runCaseOn(c, {
      sock,
      settle: () => {
        br.advance(1);
        sock.pull();
        for (const h of helpers) h.pull();
      },
      closedByBroker: () => sock.closed,
      closed: () => sock.closed,
      helper: () => {
        const h = br.connect();
        h.write(connectBytes("helper", 4));
        h.pull();
        h.inbox = [];
        helpers.push(h);
        return h;
      },
    });
  } finally {
    br.stop();
  }
}
