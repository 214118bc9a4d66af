#!/usr/bin/env node
// The desktop broker: runs host-sim/cli.ts through tsx's loader, so no build step is needed.
"use strict";
require("tsx/cjs");
require("../host-sim/cli.ts")
  .main(process.argv.slice(2))
  .then((code) => process.exit(code), (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
