import { readFileSync } from "node:fs";
import { ACCESS_NONE, ACCESS_READ, ACCESS_READWRITE, ACCESS_WRITE, AclRule, AclTable } from "../firmware/core/auth/types";
import { ConfigError } from "./config-error";
import { toBinary } from "./password-file";

/**
 * mosquitto's acl_file (mosquitto 2.0, src/security_default.c aclfile__parse):
 *   # comment
 *   topic [read|write|readwrite|deny] FILTER     before any `user`: anonymous clients
 *   user NAME                                    the following `topic` lines are NAME's
 *   pattern [read|write|readwrite|deny] FILTER   every client, %c = client id, %u = username
 * The access word is optional (readwrite); with two or more words after the
 * keyword the first must be an access word and the rest of the line is the
 * filter, so a filter may hold spaces. Filters are validated like
 * mosquitto_sub_topic_check. Filters and user names are stored as binary
 * strings (UTF-8 bytes, one char per byte), as the core compares them.
 */

const ACCESS_WORDS: { [word: string]: number } = {
  "wread": ACCESS_READ,
  "wwrite": ACCESS_WRITE,
  "wreadwrite": ACCESS_READWRITE,
  "wdeny": ACCESS_NONE,
};

/** Why `filter` is not a valid topic filter, or undefined when it is. */
export function filterProblem(filter: string): string | undefined {
  if (filter.length === 0) return "empty topic filter";
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.indexOf("#") >= 0 && (level !== "#" || i !== levels.length - 1)) {
      return '"#" must be the last level on its own in "' + filter + '"';
    }
    if (level.indexOf("+") >= 0 && level !== "+") {
      return '"+" must be a whole level in "' + filter + '"';
    }
  }
  return undefined;
}

/** The first word of `text` and the rest of it, trimmed. */
function splitWord(text: string): [string, string] {
  const m = /^(\S+)\s*(.*)$/.exec(text);
  if (m === null) return ["", ""];
  return [m[1], m[2].trim()];
}

/** Parse the text of an acl_file; `file` names it in errors (`FILE:LINE: ...`). */
export function parseAclText(text: string, file: string): AclTable {
  const table: AclTable = { anonymous: [], users: {}, patterns: [] };
  let current: AclRule[] = table.anonymous;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const where = file + ":" + (i + 1) + ": ";
    const line = lines[i].trim();
    if (line === "" || line.charAt(0) === "#") continue;
    const [keyword, rest] = splitWord(line);
    if (keyword === "user") {
      if (rest === "") throw new ConfigError(where + 'missing user name after "user"');
      const key = "u" + toBinary(rest);
      let rules = table.users[key];
      if (rules === undefined) {
        rules = [];
        table.users[key] = rules;
      }
      current = rules;
    } else if (keyword === "topic" || keyword === "pattern") {
      if (rest === "") throw new ConfigError(where + 'missing topic filter after "' + keyword + '"');
      const [first, filterText] = splitWord(rest);
      let access = ACCESS_READWRITE;
      let filter = rest;
      if (filterText !== "") {
        const word = ACCESS_WORDS["w" + first];
        if (word === undefined) {
          throw new ConfigError(where + 'invalid access "' + first + '" (read, write, readwrite or deny)');
        }
        access = word;
        filter = filterText;
      }
      const problem = filterProblem(filter);
      if (problem !== undefined) throw new ConfigError(where + problem);
      const rule: AclRule = { access: access, filter: toBinary(filter) };
      if (keyword === "topic") current.push(rule);
      else table.patterns.push(rule);
    } else {
      throw new ConfigError(where + 'unknown keyword "' + keyword + '" (topic, pattern or user)');
    }
  }
  return table;
}

/** Read and parse an acl_file. Unreadable or malformed: ConfigError naming the file. */
export function parseAclFile(path: string): AclTable {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(path + ": cannot read acl file: " + (e as Error).message);
  }
  return parseAclText(text, path);
}
