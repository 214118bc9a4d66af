/**
 * A board tool's command line, flag by flag (the flash and sim tools of both
 * boards): `take(flag, value)` handles one, `value()` reading the argument
 * after it and refusing a missing one, and answers false for a flag it does
 * not know, which is refused. With a usage text, --help and -h print it and
 * exit. `fail` makes the error a tool throws (ConfigError for some).
 */
export function readFlags(
  argv: string[], usage: string | undefined, take: (flag: string, value: () => string) => boolean,
  fail: (why: string) => Error = (why) => new Error(why),
): void {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (usage !== undefined && (flag === "--help" || flag === "-h")) {
      console.log(usage);
      process.exit(0);
    }
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw fail(`${flag} needs a value`);
      return v;
    };
    if (!take(flag, value)) throw fail(`unknown option ${flag}` + (usage !== undefined ? " (--help lists them)" : ""));
  }
}
