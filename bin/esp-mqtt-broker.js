#!/usr/bin/env node
// The desktop broker. Installed from the package, it runs dist/cli.js: plain JavaScript built
// from host-sim/cli.ts by `npm run build:dist` (run by npm pack), needing nothing but Node.
// In a clone (host-sim/ beside bin/), host-sim/cli.ts is bundled with esbuild into .build/ at
// every start (a fraction of a second), so `npm start` runs the sources as they are: loaded
// through tsx instead, every call across modules goes through an export getter, which took
// about a fifth of a busy broker's time (npm run bench -- --tsx shows both).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

function load() {
  const root = path.join(__dirname, "..");
  const source = path.join(root, "host-sim", "cli.ts");
  if (!fs.existsSync(source)) return require(path.join(root, "dist", "cli.js"));
  if (process.env.ESP_MQTT_TSX === "1") {
    require("tsx/cjs");
    return require(source);
  }
  const outfile = path.join(root, ".build", "cli.js");
  require("esbuild").buildSync({
    entryPoints: [source],
    // .build/ sits one level below the repository, as host-sim/ and dist/ do: paths from __dirname hold
    bundle: true, platform: "node", format: "cjs", target: "node20", outfile, logLevel: "error", sourcemap: true,
    // ws's optional native helpers: it runs without them
    external: ["bufferutil", "utf-8-validate"],
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
