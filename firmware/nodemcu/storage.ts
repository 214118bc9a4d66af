/** Files on NodeMCU's flash file system, as the core's Storage (the persisted state, core/persist/state_files.ts). */
import { Storage } from "../core/platform";
import { FileModule, LuaTableLib } from "./nodemcu";

declare const file: FileModule;
declare const table: LuaTableLib;

/** File reads and writes in pieces of this size (NodeMCU's read chunk). */
const FILE_CHUNK = 1024;

export class FileStorage implements Storage {
  read(name: string): string | undefined {
    let f = file.open(name, "r");
    if (f === undefined) return undefined;
    let parts: string[] = [];
    while (true) {
      let s = f.read(FILE_CHUNK);
      if (s === undefined || s.length === 0) break;
      parts.push(s);
    }
    f.close();
    return table.concat(parts, "", 1, parts.length);
  }
  write(name: string, data: string): boolean {
    let f = file.open(name, "w+");
    if (f === undefined) return false;
    let ok = true;
    for (let i = 0; i < data.length && ok; i += FILE_CHUNK) {
      let r = f.write(data.substring(i, i + FILE_CHUNK));
      if (r === undefined || r === false) ok = false;
    }
    f.close();
    return ok;
  }
  erase(name: string): void {
    file.remove(name);
  }
}
