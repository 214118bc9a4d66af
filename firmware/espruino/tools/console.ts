/**
 * Talking to an Espruino console: over a serial port (serialport, which also
 * opens the pseudo-terminals the espruino CLI refuses) or over TCP (the
 * board's telnet console, `tcp://HOST[:PORT]`). Commands go as one line each,
 * prefixed with 0x10 so the board does not echo them, and end with a marker
 * print so we know when the board has finished with them.
 */
import * as zlib from "node:zlib";
import { BoardLink, ConsoleError, openLink } from "../../tools/board-link";

// what a caller of the console needs to open one
export { ConsoleError, openLink };

export class EspruinoConsole {
  link: BoardLink;
  output = "";
  closed = false;
  private seq = 0;
  private waiters: (() => void)[] = [];
  /** Everything the board prints, for a caller that streams it (device tests). */
  onText: ((text: string) => void) | undefined;

  constructor(link: BoardLink) {
    this.link = link;
    link.onData((t) => {
      this.output += t;
      if (this.onText) this.onText(t);
      this.wake();
    });
    link.onClose(() => {
      this.closed = true;
      this.wake();
    });
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Wait until `pattern` appears in the output after `from`; returns the match index's end. */
  async waitFor(pattern: RegExp | string, timeoutMs: number, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tail = this.output.slice(from);
      const m = typeof pattern === "string" ? (tail.indexOf(pattern) >= 0 ? pattern : undefined) : tail.match(pattern)?.[0];
      if (m !== undefined) return tail;
      if (this.closed) {
        // the interpreter's own assertion names where it failed; its variable dump after it does not
        const assertAt = tail.lastIndexOf("ASSERT");
        const why = assertAt >= 0 ? `${tail.slice(Math.max(0, assertAt - 300), tail.indexOf("\n", assertAt) + 1)} ... ` : "";
        throw new ConsoleError(`the console closed while waiting for ${pattern}; it printed: ${why}${tail.slice(-400)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new ConsoleError(`no answer from the board within ${timeoutMs} ms (waiting for ${pattern}); it printed: ${JSON.stringify(tail.slice(-400))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  /**
   * Run one line of code and return what it printed. An "Uncaught" error
   * from the board is thrown as a ConsoleError with its text.
   */
  async exec(code: string, timeoutMs = 5000): Promise<string> {
    const id = ++this.seq;
    const marker = `<ok${id}>`;
    const start = this.output.length;
    this.link.write(`\x10${code}\n\x10print("<ok"+${id}+">")\n`);
    const tail = await this.waitFor(marker, timeoutMs, start);
    const printed = tail.slice(0, tail.indexOf(marker));
    if (/Uncaught|ERROR: Out of Memory|New interpreter error/.test(printed)) {
      throw new ConsoleError(printed.trim());
    }
    return printed;
  }

  /** Ask for a value; the board prints it as JSON. */
  async evalJson<T>(expr: string, timeoutMs = 5000): Promise<T> {
    const out = await this.exec(`print("<j>"+JSON.stringify(${expr})+"</j>")`, timeoutMs);
    const m = out.match(/<j>([\s\S]*)<\/j>/);
    if (!m) throw new ConsoleError(`no value for ${expr}: ${out}`);
    return JSON.parse(m[1]) as T;
  }

  /**
   * Make sure something answers like Espruino. Only if it does not answer is
   * it interrupted with Ctrl-C (on Espruino's Linux build a second Ctrl-C at
   * an idle prompt ends the interpreter).
   */
  async hello(timeoutMs = 5000): Promise<{ version: string; board: string }> {
    const ask = () => this.evalJson<{ version: string; board: string }>("{version:process.env.VERSION,board:process.env.BOARD}", timeoutMs);
    // a console just opened may drop the first bytes of a line (telnet negotiation): start on a fresh line
    this.link.write("\n");
    await new Promise((r) => setTimeout(r, 200));
    let last: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt === 2) this.link.write("\x03"); // last resort: something is running
      try {
        return await ask();
      } catch (e) {
        last = e as Error;
        if (this.closed) break;
      }
    }
    throw new ConsoleError(`the board is not running Espruino, or its console is busy (${(last as Error).message.split("\n")[0]}). Flash Espruino first: https://www.espruino.com/ESP32`);
  }

  /**
   * Write a file to Storage in chunks (the board cannot take a large string in
   * one console line): the first write sets the file's full size.
   */
  async writeFile(name: string, data: Buffer, progress?: (done: number, total: number) => void, chunkSize?: number): Promise<void> {
    // a serial line has no flow control to speak of: shorter lines, fewer bytes at risk per line
    const size = chunkSize ?? (this.link.serial ? 192 : 384);
    let lastError: Error | undefined;
    // a line garbled on the way is caught (a parse error, no answer, or the CRC): write the file again
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.writeFileOnce(name, data, size, progress);
        return;
      } catch (e) {
        lastError = e as Error;
        if (this.closed || /out of flash|empty/.test(lastError.message)) throw lastError;
        this.link.write("\n");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    throw lastError as Error;
  }

  private async writeFileOnce(name: string, data: Buffer, chunkSize: number, progress?: (done: number, total: number) => void): Promise<void> {
    const total = data.length;
    if (total === 0) throw new ConsoleError(`refusing to write an empty ${name}`);
    await this.exec(`require("Storage").erase(${JSON.stringify(name)})`);
    for (let off = 0; off < total; off += chunkSize) {
      const part = data.subarray(off, Math.min(total, off + chunkSize)).toString("base64");
      const args = off === 0 ? `0,${total}` : `${off}`;
      const out = await this.exec(`print(require("Storage").write(${JSON.stringify(name)},atob("${part}"),${args})?"":"<fail>")`, 10000);
      if (out.indexOf("<fail>") >= 0) throw new ConsoleError(`writing ${name} failed at byte ${off}: out of flash? (require("Storage").getFree() tells)`);
      if (progress) progress(Math.min(total, off + chunkSize), total);
    }
    // read it back whole: a line garbled on the way (a noisy cable) must not become firmware
    const back = await this.evalJson<[number, number]>(`(function(f){return [f.length,E.CRC32(f)]})(require("Storage").read(${JSON.stringify(name)}))`);
    const crc = zlib.crc32(data);
    if (back[0] !== total || back[1] !== crc) {
      throw new ConsoleError(`${name} reads back ${back[0]} bytes with CRC ${back[1]}, wrote ${total} bytes with CRC ${crc}: the link garbled it`);
    }
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
