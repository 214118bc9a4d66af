#!/usr/bin/env node
// The desktop broker. host-sim/cli.ts is bundled with esbuild into .build/ (a fraction of a
// second) and the bundle runs as plain JavaScript: loaded through tsx instead, every call across
// modules goes through an export getter, which took about a fifth of a busy broker's time
// (npm run bench -- --tsx shows both).
"use strict";
const path = require("node:path");

function load() {
  if (process.env.ESP_MQTT_TSX === "1") {
    require("tsx/cjs");
    return require("../host-sim/cli.ts");
  }
  const outfile = path.join(__dirname, "..", ".build", "cli.js");
  require("esbuild").buildSync({
    entryPoints: [path.join(__dirname, "..", "host-sim", "cli.ts")],
    // .build/ sits one level below the repository, as host-sim/ does: paths from __dirname hold
    bundle: true, platform: "node", format: "cjs", target: "node20", outfile, logLevel: "error", sourcemap: true,
  });
  process.setSourceMapsEnabled(true);
  return require(outfile);
}

load()
  .main(process.argv.slice(2))
  .then((code) => process.exit(code), (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
