/**
 * A board's console as a byte stream, for both boards' flashers and
 * consoles: a serial port (serialport, which also opens the
 * pseudo-terminals the espruino CLI refuses) or the board's telnet console
 * over TCP (`tcp://HOST[:PORT]`).
 */
import * as net from "node:net";

export interface BoardLink {
  /** A serial port (or pty): no flow control, so lines are kept short. */
  serial: boolean;
  write(data: string): void;
  onData(cb: (text: string) => void): void;
  onClose(cb: () => void): void;
  close(): Promise<void>;
}

export class ConsoleError extends Error {}

/** Open `tcp://host[:port]` (default port 23) or a serial device path. */
export async function openLink(port: string, baudRate = 115200): Promise<BoardLink> {
  if (port.startsWith("tcp://")) {
    const rest = port.slice("tcp://".length);
    const [host, p] = rest.split(":");
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(p ? Number(p) : 23, host, () => resolve(s));
      s.once("error", (e) =>
        reject(new ConsoleError(`cannot reach ${port}: ${e.message}. Is the board on the network with its telnet console enabled?`)));
    });
    sock.setNoDelay(true);
    return {
      serial: false,
      write: (d) => void sock.write(Buffer.from(d, "latin1")),
      onData: (cb) => void sock.on("data", (b: Buffer) => cb(b.toString("latin1"))),
      onClose: (cb) => void sock.on("close", cb),
      close: () => new Promise((r) => { sock.once("close", () => r()); sock.destroy(); }),
    };
  }
  const { SerialPort } = await import("serialport");
  const sp = await new Promise<InstanceType<typeof SerialPort>>((resolve, reject) => {
    const s = new SerialPort({ path: port, baudRate, autoOpen: false });
    s.open((err) => {
      if (err) {
        const hint = /No such file|ENOENT|cannot open/i.test(err.message)
          ? "no such port: check the cable and `ls /dev/ttyUSB* /dev/ttyACM*`"
          : /Permission|EACCES/i.test(err.message)
            ? "permission denied: add yourself to the dialout group or use sudo"
            : err.message;
        reject(new ConsoleError(`cannot open ${port}: ${hint}`));
      } else resolve(s);
    });
  });
  return {
    serial: true,
    write: (d) => void sp.write(Buffer.from(d, "latin1")),
    onData: (cb) => void sp.on("data", (b: Buffer) => cb(b.toString("latin1"))),
    onClose: (cb) => void sp.on("close", cb),
    close: () => new Promise((r) => (sp.isOpen ? sp.close(() => r()) : r())),
  };
}
