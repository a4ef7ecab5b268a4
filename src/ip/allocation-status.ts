/**
 * A pool's allocations as stored in `SpiderIPPool.status.allocations`, and the one reading
 * of its entries that every reader shares (AllocationRecord.decode, listsHolder):
 *
 *   prefixes: ["default/nginx-644659db67-", "default/web/"]
 *   ips:      ["10.244.100.90-10.244.100.91", "10.244.100.93"]
 *   holders:  ["0:6lsmm", "0:n7ttd", "1:0"]
 *
 * `ips` lists every allocated address in ascending order in the compact `spec.ips` form;
 * `holders[i]` names the key holding the i-th of them as `<index into prefixes>:<suffix>`,
 * a key being split after its last "/" or "-" (pods of one ReplicaSet share
 * `namespace/rs-name-`; a StatefulSet's ordinals share `namespace/name/`). So above,
 * 10.244.100.90 is held by default/nginx-644659db67-6lsmm and 10.244.100.93 by the
 * StatefulSet `default/web`'s ordinal 0.
 *
 * Size: a ReplicaSet pod costs its 5-character suffix plus about 5 bytes (index, colon,
 * quotes, comma), however pods of different ReplicaSets interleave during rollouts: a fully
 * allocated pool of 65,536 IPv4 addresses is about 0.63 MiB of JSON (measured by the unit
 * test), far below the API server's 1.5 MiB object limit. Spiderpool's `{ip: {pod, podUid}}`
 * map would be about 5 MiB. Pod UIDs and container ids live in the pod's SpiderEndpoint,
 * where the agent checks them; the pool record holds only what keeps two pods off one
 * address: the address and its holder's key.
 */
import { AddressError } from "./address.js";

export interface AllocationsStatus {
  prefixes: string[];
  ips: string[];
  holders: string[];
}

/** Splits a holder key after its last "/" or "-". */
export function splitKey(key: string): [prefix: string, suffix: string] {
  const cut = Math.max(key.lastIndexOf("/"), key.lastIndexOf("-")) + 1;
  return [key.slice(0, cut), key.slice(cut)];
}

/** One stored holder: `<index into prefixes>:<suffix>` (s: a suffix may hold any character encode() wrote). */
const HOLDER = /^(\d+):(.*)$/s;

/**
 * The key `holders[i]` names, or the AddressError that says why it names none (the field,
 * the value, what is allowed). The one reading of a stored holder: decode() refuses a
 * record with such an entry, listsHolder() skips it, so both see the same keys. Nothing
 * is coerced: a holder or prefix that is not a string names no key, nor does an empty key.
 */
export function readHolder(prefixes: unknown, holders: readonly unknown[], i: number, field: string): string | AddressError {
  const stored = holders[i];
  const m = typeof stored === "string" ? HOLDER.exec(stored) : null;
  const list = Array.isArray(prefixes) ? (prefixes as unknown[]) : undefined;
  const shape = `"<index into ${field}.prefixes${list?.length ? ` (0-${list.length - 1})` : ""}>:<key suffix>"`;
  if (!m) return new AddressError(`${field}.holders[${i}]`, stored, `expected ${shape}`);
  const prefix = list?.[Number(m[1])];
  if (typeof prefix !== "string") {
    const found = !list ? `${field}.prefixes is ${JSON.stringify(prefixes)}, not a list` : Number(m[1]) < list.length ? `${field}.prefixes[${m[1]}] is ${JSON.stringify(prefix)}, not a string` : `${field}.prefixes has no entry ${m[1]}`;
    return new AddressError(`${field}.holders[${i}]`, stored, `expected ${shape} naming a string prefix; ${found}`);
  }
  if (prefix + m[2] === "") return new AddressError(`${field}.holders[${i}]`, stored, "names the empty key; allowed: a non-empty holder key");
  return prefix + m[2];
}

/**
 * Whether `stored` lists `key` as a holder, read as decode() reads it (readHolder) but
 * without decoding: string matches only, no address enumerated, so checking every pool of
 * a cluster stays cheap. Never throws: a field that is not a list lists nobody, and an
 * entry readHolder cannot read is skipped and passed to `onMalformed`.
 */
export function listsHolder(stored: AllocationsStatus | undefined, key: string, onMalformed?: (e: AddressError) => void, field = "status.allocations"): boolean {
  const holders: unknown = stored?.holders;
  if (!Array.isArray(holders)) return false;
  let listed = false;
  for (let i = 0; i < holders.length; i++) {
    const read = readHolder(stored?.prefixes, holders, i, field);
    if (read instanceof AddressError) onMalformed?.(read);
    else if (read === key) listed = true;
  }
  return listed;
}
