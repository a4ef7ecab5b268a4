/**
 * The pools a DEL without an endpoint releases, pure: those whose allocation record lists
 * the pod's holder key. The records are the truth (the endpoint is only a cache of them),
 * and they are read, never the pod's annotations: an annotation made malformed after the
 * ADD, or a pod whose ADD was refused for one, would otherwise fail the DEL, and a runtime
 * that cannot tear a sandbox down leaves its pod (and namespace) Terminating for ever. Nor
 * would the annotations find a pool they no longer name.
 */
import { LABEL } from "../api/labels.js";
import type { SpiderIPPool } from "../api/types.js";
import { listsHolder } from "../ip/allocation-status.js";

/**
 * The names of the pools in `pools` where `holder` holds an address that interface `ifName`
 * may use. A record does not say which interface an address serves; a pool labelled for
 * another one (an auto pool's ipam.spidernet.io/interface) is left to that interface's DEL;
 * any other pool goes, since a runtime tears a sandbox down whole, every interface's DEL
 * with it.
 */
export function heldPools(pools: Iterable<SpiderIPPool>, holder: string, ifName: string): string[] {
  const out: string[] = [];
  for (const pool of pools) {
    const only = pool.metadata.labels?.[LABEL.interface];
    if (only !== undefined && only !== ifName) continue;
    if (listsHolder(pool.status?.allocations, holder)) out.push(pool.metadata.name as string);
  }
  return out;
}
