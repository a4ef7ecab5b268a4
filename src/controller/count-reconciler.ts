/**
 * Follows SpiderSubnets and SpiderIPPools (in the leader's mirror, cluster-cache.ts) and the
 * subnet ledgers, and keeps the count columns current, so `kubectl get ss` shows
 * TOTAL-IP-COUNT as soon as a subnet exists. Writes only
 * when the counts are stale, each one a compare-and-swap; one queue per object. A subnet's
 * ledger changes with every reservation: its counts are refreshed at most once a second.
 */
import type * as k8s from "@kubernetes/client-node";
import { PLURAL, type SpiderIPPool, type SpiderSubnet } from "../api/types.js";
import { KeyedMutex } from "../k8s/keyed-mutex.js";
import { PoolClient } from "../k8s/resources.js";
import { countsStale, poolCounts, refreshPoolCounts, refreshSubnetCounts, subnetCountsOf } from "../reservation/counts.js";
import type { LedgerStores } from "../reservation/ledger-store.js";
import type { ClusterCache } from "./cluster-cache.js";

export interface Logger {
  error(obj: object, msg: string): void;
}

type Spider = SpiderSubnet | SpiderIPPool;

/** After a subnet's ledger changes, how long its counts wait for more changes before one refresh. */
const LEDGER_COUNTS_DELAY_MS = 1000;

function stale(obj: Spider, stores: LedgerStores): boolean {
  try {
    if (obj.kind === "SpiderSubnet") {
      const { spec, ledger } = stores.parsedSubnet(obj);
      return countsStale(obj.status, subnetCountsOf(spec, ledger));
    }
    return countsStale(obj.status, poolCounts(obj));
  } catch {
    return false; // a spec that does not parse has no counts to show
  }
}

/** Starts keeping the counts of every pool and subnet `cache` mirrors; returns its stop. */
export function startCountReconciler(custom: k8s.CustomObjectsApi, cache: ClusterCache, stores: LedgerStores, log: Logger): () => void {
  const pools = new PoolClient(custom);
  const queue = new KeyedMutex();
  let stopped = false;
  const refresh = (plural: string, name: string): void => {
    const work = plural === PLURAL.SpiderSubnet ? () => refreshSubnetCounts(custom, stores, name) : () => refreshPoolCounts(pools, name);
    queue.run(`${plural}/${name}`, work).catch((e: unknown) => log.error({ err: e, name, plural }, "count refresh failed"));
  };
  const scheduled = new Set<string>();
  const unsubscribe = stores.subnetParts.onChange((name) => {
    if (stopped || scheduled.has(name)) return;
    scheduled.add(name);
    setTimeout(() => {
      scheduled.delete(name);
      if (!stopped) refresh(PLURAL.SpiderSubnet, name);
    }, LEDGER_COUNTS_DELAY_MS);
  });
  const judge = (obj: Spider): void => {
    const name = obj.metadata.name;
    if (!stopped && name && stale(obj, stores)) refresh(obj.kind === "SpiderSubnet" ? PLURAL.SpiderSubnet : PLURAL.SpiderIPPool, name);
  };
  const unlisten = cache.onSpiderChange(judge);
  for (const obj of cache.spiderObjects()) judge(obj);
  return () => {
    stopped = true;
    unsubscribe();
    unlisten();
  };
}
