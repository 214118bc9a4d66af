/** Entry of the device-test build: run the on-device suite with the flashed configuration. */
import { runSelfTest } from "./selftest";
import { installText } from "./text";

declare const global: any;
const cfg = global.require("Storage").readJSON("mqtt.json", true);
if (cfg === undefined) {
  global.print("# no mqtt.json on the board: flash it first (npm run flash)");
  global.print("# passed 0 failed 1");
} else {
  // the core's text operations, as main.ts sets them before its broker starts
  installText();
  runSelfTest(cfg.config);
}
