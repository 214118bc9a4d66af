/** Entry of the device-test build: run the on-device suite with the flashed configuration. */
import { runSelfTest } from "./selftest";

declare const global: any;
const cfg = global.require("Storage").readJSON("mqtt.json", true);
if (cfg === undefined) {
  global.print("# no mqtt.json on the board: flash it first (npm run flash)");
  global.print("# passed 0 failed 1");
} else {
  runSelfTest(cfg.config);
}
