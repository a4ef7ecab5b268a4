/**
 * The agent's watch caches, so an ADD reads nothing from the API server: the pods of its
 * node (field selector spec.nodeName), every SpiderIPPool (claims start from the cached
 * copy; the shared-address catalog and default pools come from it) and every
 * SpiderReservedIP. Each falls back to the API server while its watch is down.
 */
import * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, type SpiderIPPool, type SpiderReservedIP, VERSION } from "../api/types.js";
import type { Family } from "../ip/address.js";
import type { RangeSet } from "../ip/range-set.js";
import { WatchCache } from "../k8s/watch-cache.js";
import { reservedSets } from "../reservation/reserved-ips.js";

type Pool = SpiderIPPool & k8s.KubernetesObject;
type Reserved = SpiderReservedIP & k8s.KubernetesObject;

/** A pool's spec changed (its generation moved), or it came or went: the shared catalog is stale. */
const specChanged = (before: Pool | undefined, after: Pool | undefined): boolean => !before || !after || before.metadata.generation !== after.metadata.generation;

export class NodeCaches {
  readonly pods: WatchCache<k8s.V1Pod>;
  readonly pools: WatchCache<Pool>;
  readonly reservedIPs: WatchCache<Reserved>;
  private reservedMemo?: { revision: number; sets: Record<Family, RangeSet> };

  constructor(kc: k8s.KubeConfig, node: string, onError: (what: string, e: unknown) => void) {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const fieldSelector = `spec.nodeName=${node}`;
    this.pods = new WatchCache<k8s.V1Pod>(kc, {
      path: "/api/v1/pods",
      fieldSelector,
      list: () => core.listPodForAllNamespaces({ fieldSelector }),
      onError: (e) => onError("pods", e),
    });
    const spider = <T extends k8s.KubernetesObject>(plural: string) => () =>
      custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<k8s.KubernetesListObject<T>>;
    this.pools = new WatchCache<Pool>(kc, {
      path: `/apis/${GROUP}/${VERSION}/${PLURAL.SpiderIPPool}`,
      list: spider<Pool>(PLURAL.SpiderIPPool),
      counts: specChanged,
      onError: (e) => onError("spiderippools", e),
    });
    this.reservedIPs = new WatchCache<Reserved>(kc, {
      path: `/apis/${GROUP}/${VERSION}/${PLURAL.SpiderReservedIP}`,
      list: spider<Reserved>(PLURAL.SpiderReservedIP),
      onError: (e) => onError("spiderreservedips", e),
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.start(), this.pools.start(), this.reservedIPs.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.pods.stop(), this.pools.stop(), this.reservedIPs.stop()]);
  }

  /** The pod as cached, or undefined (not on this node yet, or the watch is down). */
  pod(namespace: string, name: string): k8s.V1Pod | undefined {
    return this.pods.live ? this.pods.get(name, namespace) : undefined;
  }

  pool(name: string): SpiderIPPool | undefined {
    return this.pools.live ? this.pools.get(name) : undefined;
  }

  /** Every pool, or undefined while the watch is down. */
  allPools(): readonly SpiderIPPool[] | undefined {
    return this.pools.live ? this.pools.list() : undefined;
  }

  /** The pools' spec revision for the shared-address catalog, or undefined while the watch is down. */
  poolSpecRevision(): number | undefined {
    return this.pools.live ? this.pools.revision : undefined;
  }

  /** Every SpiderReservedIP's addresses, or undefined while the watch is down. */
  reserved(): Record<Family, RangeSet> | undefined {
    if (!this.reservedIPs.live) return undefined;
    const revision = this.reservedIPs.revision;
    if (this.reservedMemo?.revision !== revision) this.reservedMemo = { revision, sets: reservedSets(this.reservedIPs.list()).sets };
    return this.reservedMemo.sets;
  }
}
