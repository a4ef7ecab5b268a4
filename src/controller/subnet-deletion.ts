/**
 * A SpiderSubnet being deleted, pure: it waits while stored pools lie in it (their
 * addresses come from its ledger), then its cluster-ledger claim is released and the
 * finalizer removed.
 */
import { RELEASE_FINALIZER, type SpiderIPPool, type SpiderSubnet } from "../api/types.js";
import { nameList } from "../api/verdict.js";

export type SubnetDeletionStep = { kind: "none" } | { kind: "wait"; message: string } | { kind: "release" };

/**
 * `pools`: every stored pool (spec.subnet is canonical in both: the webhook refuses any
 * other form); `claimed`: the pools its ledger lists (an admission may have claimed for a
 * pool not stored yet). It waits for both.
 */
export function decideSubnetDeletion(subnet: SpiderSubnet, pools: readonly SpiderIPPool[], claimed: readonly string[]): SubnetDeletionStep {
  if (!subnet.metadata.deletionTimestamp || !subnet.metadata.finalizers?.includes(RELEASE_FINALIZER)) return { kind: "none" };
  const inside = [...new Set([...pools.filter((p) => p.spec.subnet === subnet.spec.subnet).map((p) => p.metadata.name as string), ...claimed])].sort();
  if (inside.length === 0) return { kind: "release" };
  return {
    kind: "wait",
    message: `waiting for ${inside.length} SpiderIPPools in this subnet to be deleted (${nameList(inside, 3)}); the subnet is deleted when they are gone`,
  };
}
