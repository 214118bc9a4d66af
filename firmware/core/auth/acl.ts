import { Bytes } from "../platform";
import { filterMatchesBytes } from "../topics/match";
import { AclRule, AclTable, ACCESS_NONE, ACCESS_READ } from "./types";

/**
 * mosquitto's acl_file semantics (mosquitto 2.0 default security,
 * src/security_default.c: add__acl, add__acl_pattern,
 * mosquitto_acl_check_default; the same logic lives on in the acl-file
 * plugin, plugins/acl-file/acl_check.c).
 *
 * Evaluation order, reproduced by the order compileAcl returns:
 * 1. the client's own list (its `user` section, or the anonymous section
 *    when it gave no username), `deny` rules first (add__acl puts every
 *    MOSQ_ACL_NONE rule at the front of its list);
 * 2. then the `pattern` rules, `deny` first again.
 * The first rule whose filter matches and that is either `deny` or grants
 * the requested access decides; a matching rule without the access bit is
 * passed over; nothing decisive means denied. So a `deny` beats any allow of
 * the same list and every pattern, but a user `topic` allow is decided
 * before any `pattern deny` is looked at (as in mosquitto).
 */

const SLASH = 47;
const PLUS = 43;
const HASH = 35;
const DOLLAR = 36;
const PERCENT = 37;
const LETTER_C = 99;
const LETTER_U = 117;

/**
 * The rules that apply to one client, in evaluation order. Run once at
 * CONNECT; the result is all aclAllowsTopic / aclAllowsSubscribe need. (Its
 * helpers are nested: on Espruino a module-level function costs memory for
 * as long as the broker runs.)
 *
 * Patterns are dropped altogether when the username or the client id
 * contains '+', '#' or '/': mosquitto 2.0 answers MOSQ_ERR_ACL_DENIED for the
 * whole pattern phase for "+#" ("ACL denying access to client with
 * dangerous username/client id"), so a crafted id cannot widen its own
 * pattern. '/' is refused too, as mosquitto 1.x did ("+#/"): client id
 * "alice/x" would otherwise get "clients/alice/x/#" under
 * `pattern clients/%c/#`, a subtree of client "alice"'s own.
 * The client's own `topic` rules still apply.
 *
 * "%c" becomes the client id and "%u" the username, the textual substitution
 * of mosquitto 2.0 (anywhere in the filter, not only as a whole level);
 * anything else after '%' is kept as is. A pattern with %u does not apply to a
 * client without a username (mosquitto: `if(acl_root->ucount && !username) continue;`).
 * @cold 130
 */
export function compileAcl(acl: AclTable, clientId: string, username: string | undefined): AclRule[] {
  const hasWildcard = (value: string): boolean => {
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c === PLUS || c === HASH || c === SLASH) return true;
    }
    return false;
  };
  const out: AclRule[] = [];
  const own: AclRule[] | undefined = username === undefined ? acl.anonymous : acl.users["u" + username];
  const patterns = acl.patterns;
  const withPatterns = !hasWildcard(clientId) && !(username !== undefined && hasWildcard(username));
  // deny rules first, then the others: in the client's own list, then in the patterns
  for (let pass = 0; pass < 4; pass++) {
    const list = pass < 2 ? own : (withPatterns ? patterns : undefined);
    if (list === undefined) continue;
    const denyPass = pass % 2 === 0;
    for (let i = 0; i < list.length; i++) {
      const rule = list[i];
      if ((rule.access === ACCESS_NONE) !== denyPass) continue;
      if (pass < 2) {
        out.push(rule);
        continue;
      }
      const f = rule.filter;
      let sub = "";
      let start = 0;
      let k = 0;
      let skip = false;
      while (k + 1 < f.length) {
        const next = f.charCodeAt(k + 1);
        if (f.charCodeAt(k) === PERCENT && (next === LETTER_C || next === LETTER_U)) {
          if (next === LETTER_U && username === undefined) {
            skip = true;
            break;
          }
          sub = sub + f.substring(start, k) + (next === LETTER_C ? clientId : (username as string));
          k += 2;
          start = k;
          continue;
        }
        k++;
      }
      if (!skip) out.push({ access: rule.access, filter: sub + f.substring(start, f.length) });
    }
  }
  return out;
}

/** Does a rule's access (0..3) include any bit of `access` (ACCESS_READ / ACCESS_WRITE)? */
function grants(ruleAccess: number, access: number): boolean {
  let readAsked = access % 2 === 1;
  let writeAsked = Math.floor(access / 2) % 2 === 1;
  let readGiven = ruleAccess % 2 === 1;
  let writeGiven = Math.floor(ruleAccess / 2) % 2 === 1;
  return (readAsked && readGiven) || (writeAsked && writeGiven);
}

/**
 * May the client publish to (ACCESS_WRITE) or receive (ACCESS_READ) the topic
 * name held in buf[off, off+len)? A topic starting with '$' is only matched by
 * a rule starting with '$' (filterMatchesBytes refuses leading wildcards).
 * Allocates nothing.
 */
export function aclAllowsTopic(rules: AclRule[], buf: Bytes, off: number, len: number, access: number): boolean {
  for (let i = 0; i < rules.length; i++) {
    let rule = rules[i];
    if (filterMatchesBytes(rule.filter, buf, off, len)) {
      if (rule.access === ACCESS_NONE) return false;
      if (grants(rule.access, access)) return true;
    }
  }
  return false;
}

/**
 * Is every topic the subscription `subFilter` can match also matched by
 * `aclFilter`? A port of mosquitto's mosquitto_sub_matches_acl
 * (lib/util_topic.c, sub_matches_acl without pattern substitution):
 * "a/#" covers "a/#", "a/b", "a/+" and "a"; "#" covers "a/#";
 * "a/#" does not cover "#"; "a/+" covers "a/b" and "a/+" but not "a/#";
 * '$' topics only by a filter that starts with '$' too ("#" does not cover
 * "$SYS/#"). Both filters are binary strings assumed valid.
 */
export function filterCovers(aclFilter: string, subFilter: string): boolean {
  let alen = aclFilter.length;
  let slen = subFilter.length;
  if (alen === 0 || slen === 0) return false;
  let a0 = aclFilter.charCodeAt(0);
  let s0 = subFilter.charCodeAt(0);
  if ((a0 === DOLLAR && s0 !== DOLLAR) || (s0 === DOLLAR && a0 !== DOLLAR)) return false;
  let ai = 0;
  let si = 0;
  while (ai < alen) {
    let ac = aclFilter.charCodeAt(ai);
    let sc = si < slen ? subFilter.charCodeAt(si) : -1;
    if (ac !== sc || sc === -1) {
      if (ac === PLUS) {
        // "+" in the ACL never covers "#" in the subscription
        if (sc === HASH) return false;
        // "+" must be a whole level
        if (ai > 0 && aclFilter.charCodeAt(ai - 1) !== SLASH) return false;
        if (ai + 1 < alen && aclFilter.charCodeAt(ai + 1) !== SLASH) return false;
        ai++;
        while (si < slen && subFilter.charCodeAt(si) !== SLASH) si++;
        if (si >= slen && ai >= alen) return true;
      } else if (ac === HASH) {
        if (ai > 0 && aclFilter.charCodeAt(ai - 1) !== SLASH) return false;
        // "#" must be last
        return ai + 1 >= alen;
      } else {
        // "foo/bar" covered by "foo/+/#"
        return (
          sc === -1 &&
          ai > 0 &&
          aclFilter.charCodeAt(ai - 1) === PLUS &&
          ac === SLASH &&
          ai + 1 < alen &&
          aclFilter.charCodeAt(ai + 1) === HASH
        );
      }
    } else {
      // same character
      if (si + 1 >= slen) {
        // "foo" covered by "foo/#"
        if (ai + 3 === alen && aclFilter.charCodeAt(ai + 1) === SLASH && aclFilter.charCodeAt(ai + 2) === HASH) {
          return true;
        }
      }
      ai++;
      si++;
      if (ai >= alen && si >= slen) return true;
      if (si >= slen && ai + 1 === alen && aclFilter.charCodeAt(ai) === PLUS) {
        // "foo/" covered by "foo/+"
        return aclFilter.charCodeAt(ai - 1) === SLASH;
      }
    }
  }
  return si >= slen;
}

/**
 * May the client subscribe to `filter`? Only if a rule with read access
 * covers the whole filter (filterCovers), decided in the same order as
 * aclAllowsTopic: a `deny` rule covering the filter refuses it. A `deny`
 * that only overlaps part of the filter ("a/secret" under "a/#") does not
 * refuse the subscription: aclAllowsTopic filters those messages at delivery.
 * @cold 110
 */
export function aclAllowsSubscribe(rules: AclRule[], filter: string): boolean {
  for (let i = 0; i < rules.length; i++) {
    let rule = rules[i];
    if (filterCovers(rule.filter, filter)) {
      if (rule.access === ACCESS_NONE) return false;
      if (grants(rule.access, ACCESS_READ)) return true;
    }
  }
  return false;
}
