/**
 * What a CNI DEL releases, pure. A DEL tears down one interface of one sandbox, so it frees
 * only the addresses the pools' records give that interface of that sandbox: an address a
 * newer sandbox of the pod claimed again (a late DEL of a replaced sandbox) or another
 * interface's address stays (src/ip/allocation-status.ts `sandboxes`).
 *
 * Which pools to look in comes from the pod's SpiderEndpoint or, without one, from the
 * pools' records: never from the pod's annotations, since an annotation made malformed
 * after the ADD, or a pod whose ADD was refused for one, would otherwise fail the DEL, and
 * a runtime that cannot tear a sandbox down leaves its pod (and namespace) Terminating for
 * ever. Nor would the annotations find a pool they no longer name.
 */
import { holderKey, statefulSetMember, type StatefulSetMember } from "../api/holders.js";
import { LABEL } from "../api/labels.js";
import type { EndpointIP, SpiderEndpoint, SpiderIPPool } from "../api/types.js";
import type { AddressError } from "../ip/address.js";
import { type AddressUse, listsHolder, sandboxDigest } from "../ip/allocation-status.js";

/**
 * A pool to release in, and whether an address there that records no sandbox (claimed
 * before pinpool recorded them) counts as the DEL's interface's. Such an address names no
 * interface, and an older agent gave two interfaces of one pod in one pool one address:
 * it counts only where no other interface can be using it.
 */
export interface ReleaseTarget {
  pool: string;
  unrecorded: boolean;
}

/** Whose addresses a DEL releases (a StatefulSet ordinal's are kept while the set keeps it) and where. */
export interface ReleasePlan {
  holder: string;
  statefulSet?: StatefulSetMember;
  targets: ReleaseTarget[];
}

/** The addresses of a holder that a DEL for interface `ifName` of sandbox `containerID` frees in one target. */
export function releasedBy(ifName: string, containerID: string, target: ReleaseTarget): (use: AddressUse | undefined) => boolean {
  const sandbox = sandboxDigest(containerID);
  return (use) => (use ? use.interface === ifName && use.sandbox === sandbox : target.unrecorded);
}

const poolsOf = (ips: readonly EndpointIP[]): string[] => ips.flatMap((i) => [i.ipv4Pool, i.ipv6Pool]).filter((p): p is string => !!p);

/** From the pod's endpoint (written by the ADD): the pools of interface `ifName`'s entry. */
export function planFromEndpoint(endpoint: SpiderEndpoint, namespace: string, name: string, ifName: string): ReleasePlan {
  const setName = endpoint.status?.ownerControllerType === "StatefulSet" ? endpoint.status.ownerControllerName : undefined;
  const statefulSet = setName ? statefulSetMember(setName, name) : undefined;
  const ips = endpoint.status?.current?.ips ?? [];
  const othersUse = new Set(poolsOf(ips.filter((i) => i.interface !== ifName)));
  const targets = poolsOf(ips.filter((i) => i.interface === ifName)).map((pool) => ({ pool, unrecorded: !othersUse.has(pool) }));
  return { holder: holderKey(namespace, name, statefulSet), ...(statefulSet ? { statefulSet } : {}), targets };
}

/**
 * Without an endpoint: the pools in `pools` whose record lists `holder`, but for a pool
 * labelled for another interface (an auto pool's ipam.spidernet.io/interface). An address
 * that records no sandbox counts as `ifName`'s in a pool labelled for it, and in an
 * unlabelled one only for eth0: the interface every pod has, which a runtime tears down
 * with the rest of the sandbox. A record entry that cannot be read is never read as the
 * holder's (listsHolder), and a pool's first such entry is passed to `onMalformed`;
 * releasing in such a pool fails to decode it, and the DEL skips the pool.
 */
export function heldPools(pools: Iterable<SpiderIPPool>, holder: string, ifName: string, onMalformed?: (pool: string, e: AddressError) => void): ReleaseTarget[] {
  const out: ReleaseTarget[] = [];
  for (const p of pools) {
    const pool = p.metadata.name as string;
    const only = p.metadata.labels?.[LABEL.interface];
    if (only !== undefined && only !== ifName) continue;
    let reported = false; // the first malformed entry of a pool, not each of thousands
    const report = (e: AddressError): void => {
      if (!reported) onMalformed?.(pool, e);
      reported = true;
    };
    if (listsHolder(p.status?.allocations, holder, report, `SpiderIPPool "${pool}" status.allocations`)) out.push({ pool, unrecorded: only === ifName || ifName === "eth0" });
  }
  return out;
}
