/** What the agent's Ipam tests share of a fake API server: the pools' status writes, and the Ipam built on the fakes. */
import type { AppsV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import type { NodeCaches } from "../../../src/agent/caches.js";
import { Ipam } from "../../../src/agent/ipam.js";
import type { SpiderIPPool } from "../../../src/api/types.js";

interface PoolWrites {
  replaceClusterCustomObjectStatus(args: { body: SpiderIPPool }): Promise<SpiderIPPool>;
  createNamespacedCustomObject(args: { body: unknown }): Promise<unknown>;
}

/** Status writes land in `pools` with the next resourceVersion; endpoints are accepted as sent. */
export function poolWrites(pools: Map<string, SpiderIPPool>): PoolWrites {
  return {
    replaceClusterCustomObjectStatus: ({ body }: { body: SpiderIPPool }) => {
      const stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(Number(body.metadata.resourceVersion) + 1) } };
      pools.set(body.metadata.name as string, stored);
      return Promise.resolve(structuredClone(stored));
    },
    createNamespacedCustomObject: ({ body }: { body: unknown }) => Promise.resolve(body),
  };
}

/** An Ipam of node1 on the fake clients; `log` collects the messages it logs as errors. */
export function fakeIpam(fakes: { core: object; apps: object; custom: object }, caches?: NodeCaches, log?: string[], addWaitMs?: number): Ipam {
  return new Ipam({
    core: fakes.core as CoreV1Api,
    apps: fakes.apps as AppsV1Api,
    custom: fakes.custom as CustomObjectsApi,
    node: "node1",
    ...(caches ? { caches } : {}),
    ...(log ? { log: { error: (_o: object, m: string) => log.push(m), info: (_o: object, m: string) => log.push(m) } } : {}),
    ...(addWaitMs !== undefined ? { addWaitMs } : {}),
  });
}
