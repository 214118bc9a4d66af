/**
 * Parse a bundle with acorn and list every construct Espruino rejects
 * (firmware/espruino/interpreter/PLATFORM.md): ES6+ syntax it lacks, built-ins
 * it does not have, and socket.write of a typed array (which sends "1,2,3").
 */
import * as acorn from "acorn";
import * as walk from "acorn-walk";

const MISSING_GLOBALS = new Set(["Map", "Set", "WeakMap", "WeakSet", "Symbol", "TextEncoder", "TextDecoder", "Reflect", "Proxy"]);
const MISSING_MEMBERS: { [obj: string]: string[] } = {
  Math: ["imul", "trunc", "clz32", "fround", "sign", "log2", "hypot"],
  Array: ["from", "of"],
  Number: ["isInteger", "isSafeInteger", "EPSILON"],
  Object: ["freeze", "entries", "values", "fromEntries", "getOwnPropertySymbols"],
};

export function checkEspruinoSource(code: string): string[] {
  const problems: string[] = [];
  let ast: acorn.Node;
  try {
    // ecmaVersion 5 refuses every ES6+ syntax form outright
    ast = acorn.parse(code, { ecmaVersion: 5, locations: true });
  } catch (e) {
    return [`not ES5: ${(e as Error).message}`];
  }
  const at = (n: acorn.Node) => {
    const loc = (n as any).loc;
    return loc ? `${loc.start.line}:${loc.start.column}` : "?";
  };
  walk.full(ast, (node: any) => {
    if (node.type === "LabeledStatement") problems.push(`${at(node)} labelled statement`);
    // Espruino throws "Assignment to a constant" for arr.length = n (tried): use splice
    if (node.type === "AssignmentExpression" && node.left.type === "MemberExpression" && !node.left.computed &&
      node.left.property.name === "length") {
      problems.push(`${at(node)} assignment to .length`);
    }
    if (node.type === "Identifier" && MISSING_GLOBALS.has(node.name)) problems.push(`${at(node)} ${node.name}`);
    if (node.type === "MemberExpression" && !node.computed && node.object.type === "Identifier") {
      const bad = MISSING_MEMBERS[node.object.name];
      if (bad && bad.indexOf(node.property.name) >= 0) problems.push(`${at(node)} ${node.object.name}.${node.property.name}`);
    }
    if (node.type === "MemberExpression" && !node.computed && node.property.name === "slice" &&
      node.object.type === "MemberExpression" && node.object.property && node.object.property.name === "buffer") {
      problems.push(`${at(node)} ArrayBuffer.prototype.slice`);
    }
    if (node.type === "CallExpression" && node.callee.type === "MemberExpression" && !node.callee.computed &&
      node.callee.property.name === "write" && node.arguments.length === 1) {
      const a = node.arguments[0];
      if (a.type === "NewExpression" && a.callee.type === "Identifier" && /Array$/.test(a.callee.name)) {
        problems.push(`${at(node)} socket.write of a typed array`);
      }
      if (a.type === "CallExpression" && a.callee.type === "MemberExpression" && !a.callee.computed &&
        a.callee.property.name === "subarray") {
        problems.push(`${at(node)} socket.write of a typed array (wrap it in E.toString)`);
      }
    }
  });
  return problems;
}
