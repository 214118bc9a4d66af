/** Entry of the device-test build: run the on-device suite with the flashed configuration. */
import { LIMITS_FILE, runSelfTest } from "./suite";
import { installText } from "../text";

declare const global: any;
const cfg = global.require("Storage").readJSON("mqtt.json", true);
if (cfg === undefined) {
  global.print("# no mqtt.json on the board: flash it first (npm run flash)");
  global.print("# passed 0 failed 1");
} else {
  // the core's text operations, as main.ts sets them before its broker starts
  installText();
  // the broker was built with its limits in its code (firmware/espruino/tools/inline-profile.ts) and its
  // mqtt.json has none: flash.ts left them in LIMITS_FILE for this suite, which reads them as the core does
  const limits = global.require("Storage").readJSON(LIMITS_FILE, true);
  if (limits !== undefined) cfg.config.profile = limits;
  runSelfTest(cfg.config);
}
