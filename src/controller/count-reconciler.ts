/**
 * Watches SpiderSubnets, SpiderIPPools and the subnet ledgers and keeps the count columns
 * current, so `kubectl get ss` shows TOTAL-IP-COUNT as soon as a subnet exists. Writes only
 * when the counts are stale, each one a compare-and-swap; one queue per object. A subnet's
 * ledger changes with every reservation: its counts are refreshed at most once a second.
 */
import * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, type SpiderIPPool, type SpiderSubnet, VERSION } from "../api/types.js";
import { KeyedMutex } from "../k8s/keyed-mutex.js";
import { PoolClient } from "../k8s/resources.js";
import { countsStale, poolCounts, refreshPoolCounts, refreshSubnetCounts, subnetCountsOf } from "../reservation/counts.js";
import type { LedgerStores } from "../reservation/ledger-store.js";

export interface Logger {
  error(obj: object, msg: string): void;
}

type Spider = (SpiderSubnet | SpiderIPPool) & k8s.KubernetesObject;

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

export async function startCountReconciler(kc: k8s.KubeConfig, stores: LedgerStores, log: Logger): Promise<() => void> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const pools = new PoolClient(custom);
  const queue = new KeyedMutex();
  const informers: Array<k8s.Informer<Spider>> = [];
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
  for (const plural of [PLURAL.SpiderSubnet, PLURAL.SpiderIPPool]) {
    const informer = k8s.makeInformer<Spider>(
      kc,
      `/apis/${GROUP}/${VERSION}/${plural}`,
      () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<k8s.KubernetesListObject<Spider>>,
    );
    const onChange = (obj: Spider): void => {
      const name = obj.metadata?.name;
      if (name && stale(obj, stores)) refresh(plural, name);
    };
    informer.on("add", onChange);
    informer.on("update", onChange);
    // The informer stops on a watch error; start it again after a pause.
    informer.on("error", (e: unknown) => {
      if (stopped) return; // stopping aborts the watch; that is not a failure
      log.error({ err: e, plural }, "watch failed; restarting in 2 s");
      setTimeout(() => void informer.start().catch(() => undefined), 2000);
    });
    await informer.start();
    informers.push(informer);
  }
  return () => {
    stopped = true;
    unsubscribe();
    informers.forEach((i) => void i.stop());
  };
}
