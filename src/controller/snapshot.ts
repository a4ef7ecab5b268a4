/**
 * One sweep's view of the cluster: every object the reconcilers judge, from the leader's
 * watch caches (cluster-cache.ts). Who holds an address is judged from such a view by the
 * rules in api/holders.ts.
 */
import type * as k8s from "@kubernetes/client-node";
import type { SpiderEndpoint, SpiderIPPool, SpiderSubnet } from "../api/types.js";
import type { HolderView } from "../api/holders.js";

export interface Snapshot extends HolderView {
  pools: SpiderIPPool[];
  subnets: SpiderSubnet[];
  endpoints: SpiderEndpoint[];
  /** By `namespace/name`. */
  deployments: Map<string, k8s.V1Deployment>;
  /** Whether a SpiderIPPool of that name is stored. */
  storedPools: { has(name: string): boolean };
  /** When the view was taken. */
  listedAt: number;
}
