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
 *   sandboxes: ["Xy3_a9", "Xy3_a9@net1", ""]
 *
 * `sandboxes[i]` says what the i-th address serves: the sandbox it was last claimed for (a
 * digest of its CNI container ID, sandboxDigest) and, after an "@", its interface unless
 * that is eth0; "" when not recorded (claimed before pinpool recorded sandboxes; the whole
 * list is left out when none is). So one pod's eth0 and net1 hold two addresses of one pool,
 * and a CNI DEL releases only its own interface's address, and only while no newer
 * sandbox of the pod has claimed it again (a late DEL of a replaced sandbox releases nothing).
 *
 * Size: a ReplicaSet pod costs its 5-character suffix plus about 5 bytes (index, colon,
 * quotes, comma), however pods of different ReplicaSets interleave during rollouts, and its
 * sandbox 9 bytes (6 characters, quotes, comma): a fully allocated pool of 65,536 IPv4
 * addresses is about 1.2 MiB of JSON (measured by the unit test), below the API server's
 * 1.5 MiB object limit. Spiderpool's `{ip: {pod, podUid}}` map would be about 5 MiB. Pod
 * UIDs and whole container IDs live in the pod's SpiderEndpoint; the pool record holds what
 * keeps two pods (or two interfaces) off one address and what tells a pod's sandboxes apart.
 */
import { createHash } from "node:crypto";
import { AddressError } from "./address.js";

export interface AllocationsStatus {
  prefixes: string[];
  ips: string[];
  holders: string[];
  /** Left out when no address records its sandbox. */
  sandboxes?: string[];
}

/** What an address serves: interface `interface` of the sandbox whose container ID digests to `sandbox`. */
export interface AddressUse {
  interface: string;
  sandbox: string;
}

/** The interface a stored sandbox implies when it names none: a pod's first (Spiderpool's default). */
const FIRST_INTERFACE = "eth0";

/**
 * A sandbox as the record stores it: 6 base64url characters of the SHA-256 of its CNI
 * container ID. Only a pod's own sandboxes need telling apart: two of them look alike 1 time
 * in 2^36. Hashed, never cut, so a runtime whose IDs share a prefix is told apart too.
 */
export function sandboxDigest(containerID: string): string {
  return createHash("sha256").update(containerID).digest("base64url").slice(0, 6);
}

/** One stored sandbox: its digest, then "@<interface>" unless that is eth0 (s: an interface may hold any character). */
const SANDBOX = /^([A-Za-z0-9_-]{6})(?:@(.+))?$/s;

/** The use `sandboxes[i]` stores (undefined: not recorded), or the AddressError that says why it cannot be read. */
export function readUse(sandboxes: readonly unknown[] | undefined, i: number, field: string): AddressUse | undefined | AddressError {
  const stored = sandboxes?.[i] ?? "";
  if (stored === "") return undefined;
  const m = typeof stored === "string" ? SANDBOX.exec(stored) : null;
  if (!m) return new AddressError(`${field}.sandboxes[${i}]`, stored, 'expected "" (not recorded), "<6-character sandbox digest>" (eth0) or "<sandbox digest>@<interface>"');
  return { sandbox: m[1] as string, interface: m[2] ?? FIRST_INTERFACE };
}

/** `use` as stored in `sandboxes`. */
export function writeUse(use: AddressUse | undefined): string {
  if (!use) return "";
  return use.interface === FIRST_INTERFACE ? use.sandbox : `${use.sandbox}@${use.interface}`;
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
